"""Media inside the page: images as PNG data URIs, sound as WAV data URIs, spectrograms as
pictures. Nothing is fetched or linked: the page opens from a double-click, offline."""

from __future__ import annotations

import base64
import io
import wave

import numpy as np
import torch
from PIL import Image

# A perceptually ordered dark-blue -> yellow ramp (viridis' ends and middle), for spectrograms.
_RAMP = np.array(
    [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float64
)


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def to_pil(x: torch.Tensor | np.ndarray | Image.Image) -> Image.Image:
    """A (C, H, W) tensor in [0, 1] (C = 1 or 3), an (H, W[, 3]) uint8 array, or a PIL image."""
    if isinstance(x, Image.Image):
        return x
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().clamp(0, 1)
        if x.dim() == 3:
            x = x.permute(1, 2, 0)
        x = (x.numpy() * 255).round().astype(np.uint8)
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[:, :, 0]
    return Image.fromarray(x)


def png_data_uri(image, scale: int = 1) -> str:
    """An image (see ``to_pil``) as a PNG data URI, enlarged ``scale`` times (nearest)."""
    img = to_pil(image)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return data_uri(buf.getvalue(), "image/png")


def wav_bytes(samples, sample_rate: int) -> bytes:
    """Mono samples (T,) in [-1, 1] as a 16-bit PCM WAV file."""
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    pcm = (np.clip(x, -1.0, 1.0) * 32767).round().astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(int(sample_rate))
        out.writeframes(pcm.tobytes())
    return buf.getvalue()


def wav_data_uri(samples, sample_rate: int) -> str:
    return data_uri(wav_bytes(samples, sample_rate), "audio/wav")


def spectrogram(samples, n_fft: int = 256, hop: int = 64, floor_db: float = -80.0) -> np.ndarray:
    """Log-magnitude spectrogram (freq, time) in dB relative to full scale, clipped at
    ``floor_db`` (Hann window)."""
    x = torch.as_tensor(np.asarray(samples, dtype=np.float32).reshape(-1))
    if x.numel() < n_fft:
        x = torch.nn.functional.pad(x, (0, n_fft - x.numel()))
    window = torch.hann_window(n_fft)
    spec = torch.stft(x, n_fft, hop, window=window, return_complex=True).abs()
    db = 20 * torch.log10(spec / (window.sum() / 2) + 1e-10)
    return db.clamp(min=floor_db).numpy()


def spectrogram_png(samples, height: int = 160, floor_db: float = -80.0) -> str:
    """A spectrogram picture (low frequencies at the bottom) as a PNG data URI."""
    db = spectrogram(samples, floor_db=floor_db)[::-1]  # (F, T), high frequencies first
    level = (db - floor_db) / -floor_db  # [0, 1]
    pos = np.clip(level, 0, 1) * (len(_RAMP) - 1)
    low = np.floor(pos).astype(int).clip(0, len(_RAMP) - 2)
    frac = (pos - low)[..., None]
    rgb = _RAMP[low] * (1 - frac) + _RAMP[low + 1] * frac
    img = Image.fromarray(rgb.round().astype(np.uint8))
    width = max(img.width, 2 * img.width if img.width < 300 else img.width)
    return png_data_uri(img.resize((width, height), Image.BILINEAR))
