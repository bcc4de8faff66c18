"""The benchmarks' figures: SVG files drawn from their results JSON with the charts of
``vqvae.report.svg`` (no plotting library), so a figure is redrawn from the numbers alone:

    python benchmarks/rd.py --plot-only benchmarks/results/rd-kodak.json   # -> rd-kodak.svg

Each function takes a benchmark's JSON (as it writes it) and returns the SVG text.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from vqvae.report.svg import PALETTE, Series, bar_chart, line_chart  # noqa: E402

WIDTH, HEIGHT = 640, 400
RUN_COLORS = [PALETTE[1], PALETTE[7], PALETTE[4], PALETTE[3], PALETTE[5], PALETTE[6]]


def rd_figure(data: dict) -> str:
    """PSNR against bpp: one curve per run (its operating points, by rate) and entropy model,
    then JPEG and WebP. ``data``: rd.py's ``rd-<dataset>.json`` ({rows, jpeg, webp})."""
    runs = list(dict.fromkeys(r["run"] for r in data["rows"]))
    colors = {run: RUN_COLORS[i % len(RUN_COLORS)] for i, run in enumerate(runs)}
    groups: dict[tuple[str, str], list] = {}
    for r in data["rows"]:
        groups.setdefault((r["run"], r.get("entropy", "")), []).append(r)
    series = [  # a run's own entropy model (prior, context) a line, the static one points
        Series(
            f"{run} ({entropy})" if entropy else run,
            sorted((r["bpp"], r["psnr"]) for r in rows),
            colors[run],
            style="points" if entropy in ("static", "uniform") else "line",
        )
        for (run, entropy), rows in groups.items()
    ]
    for name, color in (("JPEG", PALETTE[0]), ("WebP", PALETTE[2])):
        curve = sorted((c["bpp"], c["psnr"]) for c in data.get(name.lower(), []))
        series.append(Series(name, curve, color, dashed=True))
    title = f"rate-distortion on {data.get('dataset', 'the test images')}"
    max_bpp = max(r["bpp"] for r in data["rows"]) * 1.6  # the peers' curves, where ours are
    for s in series:
        s.points = [p for p in s.points if p[0] <= max_bpp]
    return line_chart(
        series, title, "bits per pixel", "PSNR (dB)", WIDTH, HEIGHT, legend="bottom-right"
    )


def speech_figure(data: dict) -> str:
    """PESQ-NB against kbit/s of each codec, on seen speech (solid) and unseen (dashed).
    ``data``: speech.py's final JSON ({seen, unseen, speed})."""
    colors = {"ours": PALETTE[1], "codec2": PALETTE[0], "opus": PALETTE[2]}
    series = []
    for part, dashed in (("seen", False), ("unseen", True)):
        for codec, rows in (data.get(part) or {}).items():
            plain = [r for r in rows if "refined" not in r["setting"]]
            refined = [r for r in rows if "refined" in r["setting"]]
            for label, chosen, color in (
                (codec, plain, colors.get(codec)),
                (f"{codec}, refined", refined, PALETTE[3]),
            ):
                if chosen:
                    points = sorted((r["kbps"], r["pesq"]) for r in chosen)
                    name = label if part == "seen" else f"{label} (unseen)"
                    series.append(Series(name, points, color, dashed=dashed))
    return line_chart(series, "speech: quality against bit rate", "kbit/s", "PESQ-NB",
                      WIDTH, HEIGHT, log_x=True, legend="left")  # fmt: skip


def quantizers_figure(data: dict) -> str:
    """Test PSNR against codebook size K, one line per quantizer (its code usage beside each
    point). ``data``: quantizers.py's JSON ({results, default_meets_target})."""
    by: dict[str, list] = {}
    for r in data["results"]:
        by.setdefault(r["quantizer"], []).append(r)
    series = [
        Series(
            name,
            sorted((r["K"], r["psnr"]) for r in rows),
            labels=[f"{r['usage']:.0%}" for r in sorted(rows, key=lambda r: r["K"])],
        )
        for name, rows in by.items()
    ]
    psnr = [r["psnr"] for r in data["results"]]
    room = (min(psnr) - 0.6 * (max(psnr) - min(psnr)), max(psnr) + 0.5)  # the legend's, below
    return line_chart(series, "quantizers on CIFAR-10 (labels: code usage)", "codebook size K",
                      "test PSNR (dB)", WIDTH, HEIGHT, log_x=True, legend="bottom",
                      y_range=room)  # fmt: skip


def prior_figure(data: dict) -> str:
    """Bits per test digit: the prior's ideal code length, the .vqz file, and the Keras
    example's PixelCNN. ``data``: prior.py's JSON, or a list of them with a ``model`` key."""
    runs = data if isinstance(data, list) else [data]
    values, labels = [], []
    for r in runs:
        name = r.get("model", "ours")
        values += [r["bits_per_image"], r["file_bits_per_image"]]
        labels += [f"{name}: prior", f"{name}: .vqz file"]
    values.append(73.0)
    labels.append("Keras PixelCNN")
    return bar_chart(values, "MNIST: bits per test digit", "", "bits", WIDTH, 300,
                     mark_zero=None, labels=labels)  # fmt: skip


def data_scale_figure(data: dict) -> str:
    """Peak memory and speed in RAM and streamed, by dataset size. ``data``: data_scale.py's
    JSON."""
    rss = data["peak_rss_mb"]
    speed = data["streamed_images_per_s"]
    small, large = (str(n) for n in data["sizes"])
    labels = [f"{small} in RAM", f"{small} streamed", f"{large} streamed"]
    values = [rss[f"{small}_in_ram"], rss[small], rss[large]]
    speeds = [data["in_ram_images_per_s"], speed[small], speed[large]]
    captioned = [f"{lab} ({s:g} img/s)" for lab, s in zip(labels, speeds, strict=True)]
    return bar_chart(values, "training from a folder: peak RSS", "", "MB", WIDTH, 300,
                     mark_zero=None, labels=captioned)  # fmt: skip


FIGURES = {
    "rd": rd_figure,
    "speech": speech_figure,
    "quantizers": quantizers_figure,
    "prior": prior_figure,
    "data_scale": data_scale_figure,
}


def write_figure(kind: str, data: dict, path: Path) -> Path:
    """Draw ``kind``'s figure of ``data`` into ``path`` (an .svg file)."""
    path.write_text(FIGURES[kind](data) + "\n")
    return path


def plot_only(kind: str, json_path: str) -> int:
    """The ``--plot-only JSON`` path of a benchmark: the figure beside the JSON, no measuring."""
    source = Path(json_path)
    target = write_figure(kind, json.loads(source.read_text()), source.with_suffix(".svg"))
    print(f"wrote {target}")
    return 0


OUT = ROOT / "benchmarks" / "out"


def add_arguments(parser, results_dir: bool = True) -> None:
    """``--plot-only JSON`` (draw the figure of a results JSON and stop) and, unless the
    script has its own output folder, ``--results-dir DIR`` (where the JSON and figure go)."""
    parser.add_argument(
        "--plot-only",
        metavar="JSON",
        default=None,
        help="measure nothing: draw the figure of this results JSON beside it (.svg)",
    )
    if results_dir:
        parser.add_argument(
            "--results-dir",
            default=str(OUT),
            metavar="DIR",
            help="where the results JSON and its figure (.svg) are written",
        )


def save(kind: str, data, folder: str | Path, name: str | None = None) -> Path:
    """Write ``data`` as ``folder/NAME.json`` and its figure as ``folder/NAME.svg``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / (name or kind)
    stem.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
    return write_figure(kind, data, stem.with_suffix(".svg"))
