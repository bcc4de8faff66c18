"""The benchmarks' figures: each committed results JSON redraws into the SVG committed beside
it (``--plot-only``), and the figures are valid SVG with the curves they name."""

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "benchmarks"))
import figures  # noqa: E402

KINDS = {"rd-kodak": "rd", "speech": "speech", "quantizers": "quantizers", "prior": "prior",
         "data_scale": "data_scale"}  # fmt: skip


@pytest.mark.parametrize("name", sorted(KINDS))
def test_committed_figure_is_what_its_json_draws(name, tmp_path):
    source = RESULTS / f"{name}.json"
    copy = tmp_path / source.name
    copy.write_text(source.read_text())
    assert figures.plot_only(KINDS[name], str(copy)) == 0
    drawn = copy.with_suffix(".svg").read_text()
    assert drawn == (RESULTS / f"{name}.svg").read_text(), "regenerate it with --plot-only"
    root = ET.fromstring(drawn)
    assert root.tag.endswith("svg") and len(list(root.iter())) > 20


def test_rd_figure_draws_each_run_and_the_peers():
    data = json.loads((RESULTS / "rd-kodak.json").read_text())
    root = ET.fromstring(figures.rd_figure(data))
    texts = {t.text for t in root.iter() if t.tag.endswith("text")}
    assert {"JPEG", "WebP", "photo (context)", "photo-lo (static)"} <= texts
    lines = [e for e in root.iter() if e.tag.endswith("polyline")]
    runs = {(r["run"], r["entropy"]) for r in data["rows"]}
    assert len(lines) == len(runs) + 2 - sum(  # a run with one point has no line
        1 for run in runs if sum((r["run"], r["entropy"]) == run for r in data["rows"]) == 1
    )
