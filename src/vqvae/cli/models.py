"""``vqvae models``: the shipped models, by name."""

from __future__ import annotations

import argparse
import json

from .. import pretrained


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "models",
        help="list the shipped models",
        description="List the models shipped inside the package: their name (usable wherever "
        "a run directory is, e.g. vqvae compress --model NAME), data, size and headline metric.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object, name -> details")
    p.set_defaults(run=run)


def listing() -> dict[str, dict]:
    """name -> {"data", "size_mb", "headline", "description", "path"} of every shipped model."""
    out = {}
    for name, entry in pretrained.catalogue().items():
        out[name] = {
            "data": entry["data"],
            "size_mb": round(pretrained.size_bytes(name) / 1e6, 2),
            "headline": entry["headline"],
            "description": entry["description"],
            "path": str(pretrained.ROOT / name),
        }
    return out


def run(args: argparse.Namespace) -> int:
    models = listing()
    if args.json:
        print(json.dumps(models))
        return 0
    width = max(len(name) for name in models)
    for name, info in models.items():
        print(f"{name:<{width}}  {info['size_mb']:5.1f} MB  {info['data']}")
        print(f"{'':<{width}}  {info['headline']}")
    return 0
