"""``vqvae complete``: keep part of an image's codes and sample the rest from the prior.

The grid shows the original, its visible part (hidden codes greyed out) and ``-n``
completions. ``--keep top`` / ``left`` keeps the top / left half of the code rows / columns;
a mask image (same size as IMAGE) keeps the codes whose cells are mostly white.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..data import load_image, save_image
from ..errors import DataError
from ..priors import complete
from ..runs import Run
from ..visualize import image_grid
from .common import (
    DEVICES,
    MAX_SAMPLES,
    PRIOR_RUN_HELP,
    add_sampling_arguments,
    check_sampling_args,
    int_range,
    load_images_for,
    parse_label,
    single_threaded,
)
from .outputs import add_force_argument, check_targets


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "complete",
        help="sample the missing part of an image",
        description="Keep part of an image's codes and sample the rest from the run's prior. "
        "The grid shows the original, its visible part (hidden codes greyed out) and -n "
        "completions.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help=PRIOR_RUN_HELP)
    p.add_argument("image", metavar="IMAGE", help="the image to complete")
    p.add_argument(
        "--keep",
        required=True,
        metavar="top|left|MASK.png",
        help="the codes to keep: the top or left half of the code rows / columns, or those "
        "whose cells are mostly white in a mask image of the same size as IMAGE",
    )
    p.add_argument("-n", type=int_range(1, MAX_SAMPLES), default=8, help="number of completions")
    p.add_argument(
        "--label", type=int, default=None, help="class to complete as (conditional prior)"
    )
    add_sampling_arguments(p)
    p.add_argument(
        "--candidates", type=int_range(1, 1024), default=16, help="proposals per completion"
    )
    p.add_argument("-o", "--output", required=True, metavar="GRID.png", help="image file to write")
    add_force_argument(p)
    p.add_argument("--device", default="auto", help=f"where the prior and model run: {DEVICES}")
    p.set_defaults(run=run)


def keep_mask(keep: str, code_shape: tuple[int, int], image_shape, factor: int) -> torch.Tensor:
    """The (h, w) bool map of visible codes for ``--keep``."""
    h, w = code_shape
    mask = torch.zeros(h, w, dtype=torch.bool)
    if keep == "top":
        mask[: h // 2] = True
    elif keep == "left":
        mask[:, : w // 2] = True
    else:
        m = load_image(keep, channels=1)[0].float().div(255)  # (H, W)
        if tuple(m.shape) != tuple(image_shape):
            raise DataError(
                f"{keep}: mask is {m.shape[0]}x{m.shape[1]}, the image "
                f"{image_shape[0]}x{image_shape[1]}"
            )
        m = torch.nn.functional.pad(m, (0, w * factor - m.shape[1], 0, h * factor - m.shape[0]))
        cells = m.view(h, factor, w, factor).mean(dim=(1, 3))
        mask = cells >= 0.5
    if bool(mask.all()) or not bool(mask.any()):
        raise DataError(f"--keep {keep}: keeps {'every' if mask.all() else 'no'} code")
    return mask


@single_threaded
def run(args: argparse.Namespace) -> int:
    check_sampling_args(args.temperature, args.top_k, args.n)
    check_targets([Path(args.output)], [args.image], args.force)  # before any work
    if args.candidates < 1:
        raise DataError(f"--candidates must be >= 1, got {args.candidates}")
    run = Run(args.run_dir, args.device)
    model, prior = run.model, run.prior.to(run.device)
    label = parse_label(args.label, prior.config.num_classes)
    x = load_images_for(model, [args.image])[0]  # (1, C, H, W)
    indices = model.encode(x.to(run.device))[0]  # (h, w)
    try:
        prior.check_shape(indices.shape)
    except ValueError as exc:
        raise DataError(f"{args.image}: {exc}") from None
    f = model.downsample_factor
    mask = keep_mask(args.keep, tuple(indices.shape), tuple(x.shape[2:]), f)
    generator = torch.Generator(run.device).manual_seed(args.seed)
    maps = complete(
        prior,
        indices,
        mask,
        args.n,
        labels=label,
        temperature=args.temperature,
        top_k=args.top_k,
        candidates=args.candidates,
        generator=generator,
    )
    with torch.no_grad():
        out = model.decode(maps).clamp(0, 1)[..., : x.shape[2], : x.shape[3]].cpu()
        visible = model.decode(indices[None]).clamp(0, 1)[..., : x.shape[2], : x.shape[3]].cpu()
    pixel_mask = mask.repeat_interleave(f, 0).repeat_interleave(f, 1)[: x.shape[2], : x.shape[3]]
    visible = torch.where(pixel_mask, visible, torch.full_like(visible, 0.5))
    tiles = [x[0], visible[0], *out]
    save_image(image_grid(tiles, ncol=min(len(tiles), 10)), args.output)
    print(f"wrote the original, its visible part and {args.n} completions to {args.output}")
    return 0
