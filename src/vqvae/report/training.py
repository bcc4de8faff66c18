"""The training section: curves from a run's ``metrics.jsonl`` (every number it logged,
against the step), and the recipe beside them (config.json, MODEL.md of a shipped model)."""

from __future__ import annotations

import json
from pathlib import Path

from . import page, svg

METRICS_FILE = "metrics.jsonl"
AXES = ("epoch", "step", "elapsed")  # what the curves are drawn against, not curves
# the order of the charts: quality first, then the codes; anything else after these
FIRST = ("psnr", "pesq", "ssim", "stoi", "snr", "lsd", "mse", "nmse", "loss", "usage",
         "perplexity", "bits_per_code", "bits_per_second")  # fmt: skip
TITLES = {
    "psnr": "test PSNR (dB)", "pesq": "test PESQ-NB", "ssim": "test SSIM", "stoi": "test STOI",
    "snr": "test SNR (dB)", "lsd": "log-spectral distance (dB)", "mse": "test MSE",
    "nmse": "test NMSE", "usage": "code usage (fraction of codes used)",
    "perplexity": "code perplexity", "bits_per_code": "bits per code (entropy)",
    "bits_per_second": "bits per second", "loss": "loss",
}  # fmt: skip


def read_metrics(path: Path) -> list[dict]:
    """The records of a ``metrics.jsonl`` file; lines that are not JSON objects are skipped
    (a line cut short by a killed run)."""
    records = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def curves(records: list[dict], what: str = "") -> list[str]:
    """One chart per numeric key of ``records``, against ``step`` (or the record's index)."""
    keys: list[str] = []
    for r in records:
        for k, v in r.items():
            if k not in AXES and k not in keys and isinstance(v, (int, float)):
                keys.append(k)
    order = [k for k in FIRST if k in keys] + [k for k in keys if k not in FIRST]
    x_name = "step" if all("step" in r for r in records) else "evaluation"
    charts = []
    for key in order:
        points = [
            (r.get("step", i + 1), r[key])
            for i, r in enumerate(records)
            if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)
        ]
        if not points:
            continue
        title = f"{what}{TITLES.get(key, key)}"
        chart = svg.line_chart(
            [svg.Series("", points)], title, x_name, key, 360, 240, legend="none"
        )
        charts.append(page.figure(chart))
    return charts


def training_section(run_path: Path, config: dict, shipped: bool) -> page.Section:
    """Curves of the run (and of its prior, if it has one with a log), then its settings."""
    parts = []
    metrics = run_path / METRICS_FILE
    if metrics.is_file() and (records := read_metrics(metrics)):
        last = records[-1]
        parts.append(
            page.paragraph(
                f"{len(records)} evaluations on the test split, the last at step "
                f"{last.get('step', '?')} (epoch {last.get('epoch', '?')}, "
                f"{last.get('elapsed', 0):.0f} s of training)."
            )
        )
        parts.append(page.row(curves(records)))
    elif shipped:
        parts.append(
            page.note(
                f"{run_path.name} is a shipped model: it comes without its training log "
                f"({METRICS_FILE}), so there are no curves; its MODEL.md below says how it was "
                "trained and measured."
            )
        )
    else:
        parts.append(page.note(f"no {METRICS_FILE} in {run_path}: no training curves."))
    prior_metrics = run_path / "prior" / METRICS_FILE
    if prior_metrics.is_file() and (records := read_metrics(prior_metrics)):
        parts.append(page.heading("prior training"))
        parts.append(page.row(curves(records, "prior: ")))
    parts.append(page.heading("configuration (config.json)"))
    tables = []
    for part in ("model", "train"):
        if isinstance(config.get(part), dict):
            rows = page.flatten(config[part])
            tables.append(f"<div><b>{part}</b>{page.table(rows, ['setting', 'value'])}</div>")
    others = [(k, v) for k, v in config.items() if k not in ("model", "train")]
    tables.append(f"<div><b>run</b>{page.table(others, ['key', 'value'])}</div>")
    parts.append(page.row(tables))
    card = run_path / "MODEL.md"
    if card.is_file():
        parts.append(page.heading("MODEL.md"))
        parts.append(page.pre(card.read_text(errors="replace")))
    return page.Section("Training", "".join(parts))
