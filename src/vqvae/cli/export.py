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
    p.add_argument("model", metavar="RUN_OR_MODEL", help=RUN_DIR_HELP)
    p.add_argument("--format", choices=FORMATS, default="onnx", help="the export format")
    p.add_argument(
        "--out-dir",
        "-o",
        dest="out_dir",
        required=True,
        metavar="DIR",
        help="the folder to write (-o is the same flag: export writes a folder). A new folder "
        "appears whole; in a folder that holds an earlier export only its four files are "
        "replaced, with -f",
    )
    p.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="replace the files of an earlier export in DIR (other files there are kept)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    info = export(args.model, args.out_dir, args.format, force=args.force)
    print(f"wrote {args.out_dir}: {info['encoder']['file']}, {info['decoder']['file']}")
    return 0
