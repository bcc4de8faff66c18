"""``vqvae report``: one self-contained HTML page about a run or a shipped model."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..device import resolve_device
from ..report import build_report
from .common import DEVICES, RUN_DIR_HELP, SEED
from .outputs import check_targets, write_output


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="an HTML page of a run: curves, codebook, reconstructions, rate, sound",
        description="Write one self-contained HTML page (no file or script from the network: "
        "charts as SVG, images and sound inside) about a run or a shipped model: training "
        "curves from metrics.jsonl beside its config, code usage per stage with the dead "
        "codes and a projection of the code vectors; for an image model, originals beside "
        "their coded reconstructions, its rate and PSNR against JPEG and WebP on the same "
        "images, and samples from its prior if it has one; for a speech model, players and "
        "spectrograms of a sound decoded from several stage counts with their bit rates. "
        "Open it with a double-click.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR|NAME", help=RUN_DIR_HELP)
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE.html",
        default=None,
        help="where the page goes (default: report-NAME.html in the current folder)",
    )
    p.add_argument("-f", "--force", action="store_true", help="replace the output if it exists")
    p.add_argument(
        "--images",
        nargs="+",
        metavar="FILE",
        default=None,
        help="image models: the images to show and measure (default: the bundled examples, "
        "examples/digits/ for grayscale models, examples/photo.png for colour ones)",
    )
    p.add_argument(
        "--sound",
        metavar="FILE",
        default=None,
        help="speech models: the sound to play and measure (default: examples/speech.wav)",
    )
    p.add_argument("--seed", type=SEED, default=0, help="seed of the prior's samples")
    p.add_argument("--device", default="auto", help=f"where the model runs: {DEVICES}")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    name = Path(str(args.run_dir).rstrip("/")).name or "run"
    target = Path(args.output or f"report-{name}.html")
    inputs = [*(args.images or []), *([args.sound] if args.sound else [])]
    check_targets([target], inputs, args.force)  # before any work
    html = build_report(
        args.run_dir, args.images, args.sound, resolve_device(args.device), args.seed
    )
    write_output(target, html.encode("utf-8"), args.force)
    print(f"wrote {target} ({len(html) // 1024} KiB); open it in a browser")
    return 0
