"""``build_report(run)``: the whole page for a run dir or a shipped model.

::

    Run(path or name) -> overview   model, data, size, the zoo's headline
                         training   curves from metrics.jsonl, config.json, MODEL.md
                         codebook   usage per stage, dead codes, PCA of the code vectors
                         images:    reconstructions (PSNR, bpp), RD against JPEG/WebP, prior samples
                         speech:    players and spectrograms per stage count, quality per bit/s
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .. import pretrained
from .._version import __version__
from ..errors import VQVAEError
from ..runs import Run
from . import page
from .codebook import code_counts, codebook_section
from .images import code_images, prior_section, rd_section, read_images, reconstruction_section
from .speech import decode_at_stages, read_sound, speech_section
from .training import training_section

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"  # the repository's (src layout)
MAX_COUNT_IMAGES = 1000  # test images whose codes are counted
MAX_COUNT_CLIPS = 40  # test clips whose codes are counted
_DATA_ERRORS = (VQVAEError, OSError, ValueError)


def default_images(channels: int) -> list[Path]:
    """The bundled examples for a model: the MNIST digits (grayscale) or the parrots (RGB)."""
    found = sorted((EXAMPLES / "digits").glob("*.png")) if channels == 1 else []
    if channels == 3 and (EXAMPLES / "photo.png").is_file():
        found = [EXAMPLES / "photo.png"]
    return found


def build_report(
    source: str | os.PathLike,
    images: list[str] | None = None,
    sound: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> str:
    """The report page of a run (or shipped model) as one self-contained HTML string.

    Args:
        source: a run dir written by ``vqvae train``, or a shipped model's name.
        images: image files to show and measure (image models; default: the bundled
            examples, else the first 8 test images of the run's data).
        sound: a sound file (speech models; default examples/speech.wav, else a test clip).
        device: where the model runs.
        seed: of the prior's samples.

    Raises:
        VQVAEError: not a run, unreadable inputs, inputs of the other modality.
    """
    run = Run(source, device)
    model = run.model
    name = run.path.name if run.shipped else str(source)
    sections = [_overview(run, model, name), training_section(run.path, run.config, run.shipped)]
    codec = run.codec()
    if model.modality == "audio":
        if images:
            raise VQVAEError(f"{name} is a speech model; --images is for image models")
        sections += _speech_sections(run, model, codec, sound)
    else:
        if sound is not None:
            raise VQVAEError(f"{name} is an image model; --sound is for speech models")
        sections += _image_sections(run, model, codec, images, name, seed)
    kind = "speech" if model.modality == "audio" else "image"
    subtitle = f"{kind} model {name}, vqvae {__version__}"
    return page.render(f"vqvae report: {name}", subtitle, sections)


def _overview(run: Run, model, name: str) -> page.Section:
    c = model.config
    q = c.quantizer
    rows = [
        ["modality", model.modality],
        ["architecture", c.arch if model.modality == "image" else f"1-D conv, {c.audio_decoder or 'conv'} decoder"],
        ["quantizer", f"{q.kind}: {model.num_stages} stage(s) of {q.codebook_size} codes, dimension {q.code_dim}"],
        ["parameters", f"{sum(p.numel() for p in model.parameters()):,}"],
        ["trained steps", run.config.get("step", "?")],
    ]  # fmt: skip
    if model.modality == "audio":
        rows += [
            ["sample rate", f"{model.sample_rate} Hz"],
            ["code frames", f"{model.frames_per_second:g} per second"],
            ["rate before coding", f"{model.bitrate(1):.0f} bit/s per stage"],
        ]
    else:
        rows += [["downsampling", f"{model.downsample_factor}x per side"]]
        rows += [["channels", c.in_channels]]
    if run.shipped:
        entry = pretrained.catalogue().get(run.path.name, {})
        rows += [[k, entry[k]] for k in ("data", "headline", "description") if k in entry]
    return page.Section("Overview", page.table(rows))


def _image_sections(run: Run, model, codec, images, name: str, seed: int) -> list[page.Section]:
    channels = model.config.in_channels
    paths = images or default_images(channels)
    if paths:
        shown = read_images(paths, channels)
        what = "given" if images else "bundled examples"
    else:
        test = run.dataset("test", limit=8)
        shown = [(f"test {i}", test.batch(torch.tensor([i]))[0]) for i in range(len(test))]
        what = "the first test images"
    coded = code_images(codec, shown)
    counts, counted = _image_counts(run, model, [x for _, x in shown])
    sections = [
        reconstruction_section(coded, what),
        rd_section(coded, name),
        codebook_section(model, counts, counted),
    ]
    if (run.path / "prior" / "config.json").is_file():
        sections.append(prior_section(run, model, seed))
    return sections


def _image_counts(run: Run, model, shown: list[torch.Tensor]):
    """Code uses over the run's test split (at most ``MAX_COUNT_IMAGES``), else the images
    shown."""
    try:
        test = run.dataset("test", limit=MAX_COUNT_IMAGES)
        n = len(test)
        batches = (test.batch(torch.arange(i, min(i + 256, n))) for i in range(0, n, 256))
        return code_counts(model, batches, (n + 255) // 256), f"{n} test images"
    except _DATA_ERRORS:
        counts = code_counts(model, (x[None] for x in shown), len(shown))
        return counts, f"the {len(shown)} images shown (the test split was not found)"


def _speech_sections(run: Run, model, codec, sound) -> list[page.Section]:
    path = sound or (EXAMPLES / "speech.wav")
    if Path(path).is_file() or sound is not None:
        samples = read_sound(path, model.sample_rate)
        what = Path(path).name
    else:
        samples = run.dataset("test", limit=1).clip(0).reshape(-1).numpy()
        what = "the first test clip"
    decoded = decode_at_stages(codec, model, samples)
    try:
        test = run.dataset("test", limit=MAX_COUNT_CLIPS)
        clips = [test.clip(i) for i in range(len(test))]
        counted = f"{len(clips)} test clips"
    except _DATA_ERRORS:
        clips = [torch.as_tensor(samples).view(1, 1, -1)]
        counted = f"{what} (the test split was not found)"
    counts = code_counts(model, clips, len(clips))
    return [speech_section(model, samples, decoded, what), codebook_section(model, counts, counted)]
