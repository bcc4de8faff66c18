"""``vqvae compress``: images and speech to ``.vqz`` files (see docs/format.md)."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from PIL import Image

from .. import pretrained
from ..checkpoint import CONFIG_FILE
from ..codec import AudioHeader, compress, load, read_header
from ..data.audio import AUDIO_EXTENSIONS
from ..data.folder import infer_channels
from ..device import resolve_device
from ..errors import CheckpointError, VQVAEError
from ..limits import MAX_REFINE_STEPS
from ..metrics import bits_per_second
from .common import (
    DEVICES,
    add_max_pixels,
    add_max_seconds,
    bitrate,
    finite_float,
    int_range,
    positive_int,
)
from .outputs import add_output_arguments, plan_outputs, plural, write_output


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compress",
        help="compress images or speech into .vqz files",
        description="Compress images or mono speech (WAV, FLAC) with a run's (or a shipped "
        "model's) VQ-VAE and entropy model; without one, each file gets the shipped model that "
        "fits it (the digit model for grayscale 28x28 images, else the photo model when there "
        "is one; the speech model for .wav and .flac files, at 8 kHz). One .vqz per file, "
        "named like gzip's: photo.png -> photo.png.vqz beside it (or in --out-dir DIR; -o OUT "
        "for one file); an existing file is replaced only with -f. Prints the model and the "
        "bits per pixel (per second for speech) of each file.",
    )
    p.add_argument(
        "inputs",
        metavar="[RUN_DIR] FILE",
        nargs="+",
        help="an optional run directory, then the images or sound files",
    )
    p.add_argument(
        "--model",
        metavar="RUN_DIR|NAME",
        default=None,
        help="the run directory written by vqvae train, or a shipped model's name (vqvae "
        "models), to compress with",
    )
    add_output_arguments(p, "OUT.vqz", "photo.png -> photo.png.vqz")
    p.add_argument(
        "--entropy-model",
        "--entropy",
        dest="entropy",
        default=None,
        metavar="prior|context|static|uniform",
        help="probability model of the codes (default: the run's prior if it has one, else "
        "its context model (vqvae train-context), else its fitted static distribution "
        "(vqvae fit-entropy), else uniform)",
    )
    p.add_argument(
        "--rd-lambda",
        type=finite_float,
        default=None,
        metavar="L",
        help="choose codes by rate-distortion: latent squared distance + L * bits (greedy, in "
        "the entropy model's coding order); larger L = smaller files, lower quality. Default: "
        "the model's own codes (its saved assignment rule, e.g. a --rate-prior run's)",
    )
    p.add_argument(
        "--tile",
        type=positive_int,
        default=None,
        metavar="N",
        help="code the image as independent N x N tiles (N a multiple of the model's "
        "downsampling factor), e.g. a mosaic of the model's training images at their size. "
        "Default: the whole image at once",
    )
    p.add_argument(
        "--bitrate",
        type=bitrate,
        default=None,
        metavar="B",
        help="speech: a ceiling on the file's bit rate (its size x 8 / duration, header "
        "included): keep the most residual stages whose coded file fits; 2400 or 2.4k. "
        "Default: every stage",
    )
    p.add_argument(
        "--refine-steps",
        type=int_range(0, MAX_REFINE_STEPS),
        default=0,
        metavar="N",
        help="speech: choose the codes by analysis by synthesis, N steps of a search for the "
        "codes whose decoded sound is closest to the input (better quality at about the same "
        "rate; 50 steps take about the sound's length on one thread). Files decode as "
        f"before. At most {MAX_REFINE_STEPS} (about 20x the sound's length). Default 0: the "
        "encoder's nearest codes",
    )
    p.add_argument("--device", default="auto", help=f"where the encoder runs: {DEVICES}")
    add_max_pixels(p, "images")
    add_max_seconds(p, "sound files")
    p.set_defaults(run=run)


def split_run_dir(inputs: list[str]) -> tuple[str | None, list[str]]:
    """``[RUN_DIR] FILE...``: the first input is the run dir if it is a directory with a config."""
    if inputs and (Path(inputs[0]) / CONFIG_FILE).is_file():
        return inputs[0], inputs[1:]
    if inputs and Path(inputs[0]).is_dir():
        raise CheckpointError(
            f"{inputs[0]}: not a run directory (it has no {CONFIG_FILE}; `vqvae train` makes one)"
        )
    return None, inputs


def is_audio_file(path: str) -> bool:
    """A sound file by its name (.wav, .flac)."""
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def _fitting_model(path: str) -> str:
    """The shipped model for a file: the speech model for a sound file, else the one for the
    image's size and channels, from its header (``pretrained.for_image``)."""
    if is_audio_file(path):
        return pretrained.for_audio()
    try:
        with warnings.catch_warnings():  # a huge image: compress refuses it with our message
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:  # reads the header only
                channels, (width, height) = infer_channels(image.mode), image.size
    except (OSError, Image.DecompressionBombError):
        return "mnist"  # compress itself reports what is wrong with the file
    return pretrained.for_image(channels, height, width)


def _options(args: argparse.Namespace) -> dict:
    """The coding options the user set (the codec refuses those of the other modality)."""
    options = {
        "rd_lambda": args.rd_lambda,
        "tile": args.tile,
        "bitrate": args.bitrate,
        "refine_steps": args.refine_steps or None,
    }
    chosen = {name: value for name, value in options.items() if value is not None}
    return {**chosen, "max_pixels": args.max_pixels, "max_seconds": args.max_seconds}


def _rate(blob: bytes) -> str:
    """What one file costs: bits per pixel of an image, bits per second of a sound."""
    header = read_header(blob)
    if isinstance(header, AudioHeader):
        bps = bits_per_second(len(blob), header.samples, header.sample_rate)
        stages = plural(header.stages, "stage")
        return f"{header.seconds:.2f} s, {stages}, {bps:.0f} bit/s"
    return (
        f"{header.width}x{header.height}, {8 * len(blob) / (header.width * header.height):.3f} bpp"
    )


def run(args: argparse.Namespace) -> int:
    run_dir, inputs = split_run_dir(args.inputs)
    if not inputs:
        raise VQVAEError("no files given")
    if args.rd_lambda is not None and not 0 <= args.rd_lambda < float("inf"):
        raise VQVAEError(f"--rd-lambda must be a finite number >= 0, got {args.rd_lambda}")
    if args.model is not None and run_dir is not None:
        raise VQVAEError(f"two models given: {run_dir} and --model {args.model}")
    device = resolve_device(args.device)
    # every output checked before any work: none is an input, none exists without --force
    targets = plan_outputs(args, inputs, [f"{Path(p).name}.vqz" for p in inputs])
    codecs: dict[str, object] = {}

    def codec_for(path: str):
        name = args.model or run_dir or _fitting_model(path)
        if name not in codecs:
            codecs[name] = load(name, args.entropy, device)
        return name, codecs[name]

    options = _options(args)
    done = []
    for path in inputs:  # all compressed before any is written: no output on an error
        name, codec = codec_for(path)
        done.append((name, compress(codec, path, **options)))
    for target, (_, blob) in zip(targets, done, strict=True):
        write_output(target, blob, args.force)
    for path, target, (name, blob) in zip(inputs, targets, done, strict=True):
        print(f"{path} -> {target}: {len(blob)} bytes, {_rate(blob)} (model {name})")
    if len(done) > 1:
        total = sum(len(blob) for _, blob in done)
        print(f"wrote {plural(len(done), 'file')}, {total} bytes")
    return 0
