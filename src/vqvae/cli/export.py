"""``vqvae export``: a model as ONNX graphs (encoder with its nearest-code search, decoder)."""

from __future__ import annotations

import argparse

from ..export import FORMATS, export
from .common import RUN_DIR_HELP


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a model's encoder and decoder to ONNX",
        description="Write encoder.onnx (float32 images (B, C, H, W) in [0, 1] -> int64 code "
        "indices, the code search included), decoder.onnx (indices -> images), the "
        "model's config.json and export.json (inputs, outputs, shapes) into a folder. Batch and "
        "image size are dynamic. Needs the onnx extra: pip install 'vqvae[onnx]'.",
    )
    p.add_argument(
        "model", metavar="RUN_OR_MODEL", help=f"{RUN_DIR_HELP}, or a shipped model's name"
    )
    p.add_argument("--format", choices=FORMATS, default="onnx", help="the export format")
    p.add_argument(
        "-o",
        "--out-dir",
        dest="out_dir",
        required=True,
        metavar="DIR",
        help="the folder to write (replaced atomically if it holds an earlier export)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    info = export(args.model, args.out_dir, args.format)
    print(f"wrote {args.out_dir}: {info['encoder']['file']}, {info['decoder']['file']}")
    return 0
