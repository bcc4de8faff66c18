"""The image sections: originals beside their coded reconstructions (with PSNR and bits per
pixel), the model's rate-distortion point against JPEG and WebP on the same images, and
samples from the prior when the run has one."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, features

from ..codec import compress, decompress
from ..media.image import load_image
from ..metrics import psnr
from ..progress import track
from ..visualize import comparison_grid, image_grid
from . import embed, page, svg

JPEG_QUALITIES = (1, 5, 10, 20, 30, 50, 70, 90)
WEBP_QUALITIES = (0, 5, 10, 20, 30, 50, 70, 90)
SAMPLES = 16


@dataclass
class Coded:
    """One image through the codec: the original and decoded (C, H, W) in [0, 1], its file
    size in bytes and its PSNR (dB)."""

    name: str
    x: torch.Tensor
    x_hat: torch.Tensor
    num_bytes: int
    psnr: float

    @property
    def bpp(self) -> float:
        return 8 * self.num_bytes / (self.x.shape[1] * self.x.shape[2])


def read_images(paths, channels: int) -> list[tuple[str, torch.Tensor]]:
    """Image files as (name, (C, H, W) float in [0, 1]) with the model's channel count."""
    return [(str(p), load_image(p, channels).float() / 255) for p in paths]


def code_images(codec, images: list[tuple[str, torch.Tensor]]) -> list[Coded]:
    """Each image compressed to ``.vqz`` bytes with ``codec`` and decoded again."""
    out = []
    for name, x in track(images, desc="coding images", unit="img"):
        blob = compress(codec, x)
        decoded = decompress(blob, codec)
        x_hat = load_pil(decoded, x.shape[0])
        out.append(Coded(name, x, x_hat, len(blob), float(psnr(x[None], x_hat[None])[0])))
    return out


def load_pil(img: Image.Image, channels: int) -> torch.Tensor:
    img = img.convert("L" if channels == 1 else "RGB")
    a = np.asarray(img, dtype=np.float32) / 255
    a = a[:, :, None] if a.ndim == 2 else a
    return torch.from_numpy(a.copy()).permute(2, 0, 1)


def classic_curve(images: list[torch.Tensor], fmt: str, qualities) -> list[tuple[float, float]]:
    """(bpp, mean PSNR) of Pillow's ``fmt`` ("JPEG" or "WEBP") at each quality, the bits of
    whole files over all pixels."""
    points = []
    pixels = sum(x.shape[1] * x.shape[2] for x in images)
    for q in qualities:
        bits, total = 0, 0.0
        for x in images:
            img = embed.to_pil(x)
            buf = io.BytesIO()
            img.save(buf, format=fmt, quality=q)
            bits += 8 * buf.tell()
            buf.seek(0)
            x_hat = load_pil(Image.open(buf), x.shape[0])
            total += float(psnr(x[None], x_hat[None])[0])
        points.append((bits / pixels, total / len(images)))
    return points


def reconstruction_section(coded: list[Coded], what: str) -> page.Section:
    grid = comparison_grid(
        [c.x for c in coded],
        [c.x_hat for c in coded],
        [f"{c.psnr:.2f} dB, {c.bpp:.3f} bpp" for c in coded],
        ncol=4,
    )
    mean_psnr = sum(c.psnr for c in coded) / len(coded)
    pixels = sum(c.x.shape[1] * c.x.shape[2] for c in coded)
    bpp = 8 * sum(c.num_bytes for c in coded) / pixels
    body = page.paragraph(
        f"{len(coded)} image{'s' if len(coded) > 1 else ''} ({what}) compressed to .vqz files and decoded: mean PSNR "
        f"{mean_psnr:.2f} dB at {bpp:.3f} bits per pixel (whole files, header included)."
    ) + page.figure(page.image(embed.png_data_uri(grid), "originals and reconstructions"))
    return page.Section("Reconstructions", body)


def rd_section(coded: list[Coded], model_name: str) -> page.Section:
    """Our point(s) against JPEG and (if Pillow has it) WebP on the same images."""
    images = [c.x for c in coded]
    pixels = sum(x.shape[1] * x.shape[2] for x in images)
    ours = (8 * sum(c.num_bytes for c in coded) / pixels, sum(c.psnr for c in coded) / len(coded))
    series = [svg.Series(model_name, [ours], style="points", color=svg.PALETTE[1])]
    jpeg = classic_curve(images, "JPEG", JPEG_QUALITIES)
    series.append(svg.Series("JPEG", jpeg, color=svg.PALETTE[0]))
    missing = ""
    if features.check("webp"):
        series.append(
            svg.Series("WebP", classic_curve(images, "WEBP", WEBP_QUALITIES), color=svg.PALETTE[2])
        )
    else:
        missing = " (this Pillow has no WebP support: no WebP curve)"
    chart = svg.line_chart(series, "rate-distortion", "bits per pixel (log)", "PSNR (dB)",
                           560, 340, log_x=True, legend="left")  # fmt: skip
    caption = (
        f"whole files over the pixels of the same {len(images)} images; JPEG at qualities "
        f"{', '.join(map(str, JPEG_QUALITIES))}; WebP at {', '.join(map(str, WEBP_QUALITIES))}"
        f"{missing}"
    )
    rows = [[model_name, ours[0], ours[1]]] + [
        [s.label, p[0], p[1]] for s in series[1:] for p in s.points
    ]
    body = page.row([page.figure(chart, caption), page.table(rows, ["coder", "bpp", "PSNR dB"])])
    return page.Section("Rate and distortion", body)


@torch.no_grad()
def prior_section(run, model, seed: int = 0) -> page.Section:
    """``SAMPLES`` code maps drawn from the run's prior and decoded (one per class in turn
    for a class-conditional prior)."""
    from ..priors.sampling import sample

    prior = run.prior
    classes = prior.config.num_classes
    labels = torch.arange(SAMPLES) % classes if classes else None
    generator = torch.Generator().manual_seed(seed)
    device = next(prior.parameters()).device
    labels = labels.to(device) if labels is not None else None
    indices = sample(prior, SAMPLES, labels=labels, generator=generator)
    x = model.decode(indices.to(next(model.parameters()).device)).clamp(0, 1).cpu()
    grid = image_grid(list(x), ncol=8)
    scale = max(1, 224 // grid.shape[1])
    what = f"one per class, classes 0-{classes - 1} in turn" if classes else "unconditional"
    body = page.paragraph(
        f"{SAMPLES} code maps drawn from the prior ({what}, temperature 1, seed {seed}), "
        "decoded by the model."
    ) + page.figure(page.image(embed.png_data_uri(grid, scale), "prior samples", pixelated=True))
    return page.Section("Samples from the prior", body)
