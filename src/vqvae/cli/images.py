"""``vqvae reconstruct`` / ``encode`` / ``decode``: images to code maps and back."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import atomic_write_bytes
from ..codec.postfilter import SHARPENING
from ..codec.postfilter import postfilter as apply_postfilter
from ..data import save_image
from ..data.audio import read_audio, write_audio
from ..errors import DataError
from ..metrics import psnr, snr
from ..models import is_audio
from ..runs import Run
from ..visualize import comparison_grid
from .common import (
    DEVICE_HELP,
    RUN_DIR_HELP,
    add_max_pixels,
    add_out_dir,
    add_postfilter,
    load_images_for,
    positive_int,
    unique_stems,
)
from .outputs import add_force_argument, check_targets, plural


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "reconstruct",
        help="write reconstructions of images beside the originals",
        description="Encode and decode each image with the run's model, writing "
        "OUT_DIR/STEM_original.png, OUT_DIR/STEM_reconstruction.png and a grid of the pairs, "
        "OUT_DIR/grid.png. With an audio model the inputs are WAV/FLAC files (resampled to "
        "the model's rate) and it writes OUT_DIR/STEM_original.wav and "
        "OUT_DIR/STEM_reconstruction.wav (16-bit).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help=RUN_DIR_HELP)
    p.add_argument(
        "images", metavar="FILE", nargs="+", help="images (audio files for an audio model)"
    )
    add_out_dir(p, "folder to write the reconstructions (and grid.png) into")
    add_force_argument(p)
    p.add_argument(
        "--stages",
        type=positive_int,
        default=None,
        help="residual VQ models (images or audio): decode with only the first K stages "
        "(default: all)",
    )
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    add_max_pixels(p, "images")
    add_postfilter(p)
    p.set_defaults(run=run_reconstruct)

    p = subparsers.add_parser(
        "encode",
        help="images to a .npy array of code indices",
        description="Encode same-sized images with the run's model into one .npy array of "
        "code indices, (N, H/f, W/f) (uint16 when the codebook allows), for vqvae decode.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help=RUN_DIR_HELP)
    p.add_argument("images", metavar="IMAGE", nargs="+", help="images of one size to encode")
    p.add_argument("-o", "--output", required=True, metavar="CODES.npy", help="file to write")
    add_force_argument(p)
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    add_max_pixels(p, "images")
    p.set_defaults(run=run_encode)

    p = subparsers.add_parser(
        "decode",
        help="a .npy array of code indices to images",
        description="Decode a .npy array of code indices, (N, H', W') or (H', W') as vqvae "
        "encode writes it, with the run's model into OUT_DIR/0000.png, 0001.png, ...",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help=RUN_DIR_HELP)
    p.add_argument("codes", metavar="CODES.npy", help="code indices written by vqvae encode")
    add_out_dir(p, "folder to write the images into")
    add_force_argument(p)
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.set_defaults(run=run_decode)


def run_reconstruct(args: argparse.Namespace) -> int:
    run = Run(args.run_dir, args.device)
    model, device = run.model, run.device
    _check_reconstruct_targets(args, ".wav" if is_audio(model) else ".png")
    if is_audio(model):
        postfilter = SHARPENING if args.postfilter is None else args.postfilter
        return reconstruct_audio(model, args.images, args.out_dir, args.stages, device, postfilter)
    if args.postfilter is not None:
        raise DataError("--postfilter applies to sound; this is an image model")
    if args.stages is not None and not model.supports_stage_prefix:
        raise DataError("--stages is for residual models (rvq); this one decodes all its codes")
    if args.stages is not None and not 1 <= args.stages <= model.num_stages:
        raise DataError(f"--stages must be in [1, {model.num_stages}], got {args.stages}")
    images = load_images_for(model, args.images, args.max_pixels)  # all first: fail before writing
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    originals, reconstructions, captions, scores = [], [], [], []
    with torch.no_grad():
        for stem, x in zip(unique_stems(args.images), images, strict=True):
            x_hat = model.reconstruct(x.to(device), args.stages).cpu()
            save_image(x[0], out_dir / f"{stem}_original.png")
            save_image(x_hat[0], out_dir / f"{stem}_reconstruction.png")
            scores.append(float(psnr(x, x_hat)[0]))
            originals.append(x[0])
            reconstructions.append(x_hat[0])
            captions.append(f"{stem}: {scores[-1]:.1f} dB")
    mean = sum(scores) / len(scores)
    title = f"original | reconstruction ({args.run_dir}), PSNR per pair, mean {mean:.2f} dB"
    grid = comparison_grid(originals, reconstructions, captions, title)
    save_image(grid, out_dir / "grid.png")
    print(
        f"wrote {len(images)} reconstructions and grid.png to {out_dir} (mean PSNR {mean:.2f} dB)"
    )
    return 0


def _check_reconstruct_targets(args: argparse.Namespace, suffix: str) -> None:
    """Refuse (before any work) to write onto an input, or onto a file without --force."""
    folder = Path(args.out_dir)
    targets = [
        folder / f"{stem}_{kind}{suffix}"
        for stem in unique_stems(args.images)
        for kind in ("original", "reconstruction")
    ]
    targets += [folder / "grid.png"] if suffix == ".png" else []
    check_targets(targets, args.images, args.force)


def reconstruct_audio(
    model, paths: list[str], out_dir: str, stages: int | None, device, postfilter: float = 1.0
) -> int:
    """``reconstruct`` for an audio model: STEM_original.wav and STEM_reconstruction.wav, the
    decoder's output sharpened by the postfilter as ``decompress`` does (1: off)."""
    if stages is not None and not 1 <= stages <= model.num_stages:
        raise DataError(f"--stages must be in [1, {model.num_stages}], got {stages}")
    rate = model.sample_rate
    clips = [read_audio(path, rate)[0] for path in paths]  # all first: fail before writing
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    scores = []
    for stem, samples in zip(unique_stems(paths), clips, strict=True):
        x = torch.from_numpy(samples).view(1, 1, -1).to(device)
        x_hat = model.reconstruct(x, stages)[0, 0].clamp(-1, 1).cpu().numpy()
        x_hat = apply_postfilter(x_hat, rate, postfilter)
        write_audio(out / f"{stem}_original.wav", samples, rate)
        write_audio(out / f"{stem}_reconstruction.wav", x_hat, rate)
        scores.append(snr(samples, x_hat))
    bitrate = model.bitrate(stages)
    mean = sum(scores) / len(scores)
    print(
        f"wrote {len(clips)} reconstructions to {out} at {bitrate:.0f} bit/s before entropy "
        f"coding (mean SNR {mean:.2f} dB)"
    )
    return 0


def _code_dtype(codebook_size: int) -> np.dtype:
    return np.dtype(np.uint16) if codebook_size <= 1 << 16 else np.dtype(np.int64)


def run_encode(args: argparse.Namespace) -> int:
    run = Run(args.run_dir, args.device)
    model, device = run.model, run.device
    check_targets([Path(args.output)], args.images, args.force)  # before any work
    images = load_images_for(model, args.images, args.max_pixels)
    shapes = {tuple(x.shape[2:]) for x in images}
    if len(shapes) > 1:
        raise DataError(
            f"images have different sizes {sorted(shapes)}; encode same-sized images together"
        )
    codes = torch.cat([model.encode(x.to(device)).cpu() for x in images])
    array = codes.numpy().astype(_code_dtype(model.quantizer.codebook_size))
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    atomic_write_bytes(args.output, buffer.getvalue())
    print(f"wrote {tuple(array.shape)} codes ({array.dtype}) to {args.output}")
    return 0


def read_code_array(path: str, codebook_size: int, num_stages: int = 1) -> torch.Tensor:
    """Read a .npy of code ids, (N, H', W') or (H', W'), checking dtype and range.

    Multi-codebook quantizers (``num_stages`` S > 1) take (N, S, H', W') or (S, H', W').
    """
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: not found") from None
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(
            f"{path}: not a .npy array of codes ({' '.join(str(exc).split())})"
        ) from None
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.integer):
        raise DataError(
            f"{path}: codes must be an integer array, got {getattr(array, 'dtype', type(array))}"
        )
    dims = 3 if num_stages == 1 else 4
    if array.ndim == dims - 1:
        array = array[None]
    if array.ndim != dims or array.size == 0 or (dims == 4 and array.shape[1] != num_stages):
        expected = "(N, H, W)" if dims == 3 else f"(N, {num_stages}, H, W)"
        raise DataError(f"{path}: codes must have shape {expected}, got {array.shape}")
    if array.min() < 0 or array.max() >= codebook_size:
        raise DataError(
            f"{path}: code ids must lie in [0, {codebook_size}), got [{array.min()}, {array.max()}]"
        )
    return torch.from_numpy(array.astype(np.int64))


def run_decode(args: argparse.Namespace) -> int:
    run = Run(args.run_dir, args.device)
    model, device = run.model, run.device
    codes = read_code_array(args.codes, model.quantizer.codebook_size, model.quantizer.num_stages)
    if model.config.arch == "mlp":
        f = model.downsample_factor
        expected = tuple(s // f for s in model.config.image_size)
        if tuple(codes.shape[-2:]) != expected:
            raise DataError(
                f"{args.codes}: this MLP model decodes {expected} code maps, got {tuple(codes.shape[-2:])}"
            )
    out_dir = Path(args.out_dir)
    x_hat = model.decode(codes.to(device)).clamp(0, 1).cpu()
    check_targets([out_dir / f"{i:04d}.png" for i in range(len(x_hat))], [args.codes], args.force)
    out_dir.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(x_hat):
        save_image(img, out_dir / f"{i:04d}.png")
    print(f"wrote {plural(len(x_hat), 'image')} to {out_dir}")
    return 0
