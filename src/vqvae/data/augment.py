"""Speech augmentation for training on few voices: every training segment drawn with a random
speed, level, room, noise and band, so that the model meets more voices and conditions than
the recordings hold.

    segment of round(T x speed) samples --resample to T (speed 0.9 / 1.0 / 1.1: pitch and
        formants shift together, Ko et al. 2015)
      --band limit (p 0.3: a high-pass at 50-300 Hz and/or a low-pass at 2.5-3.8 kHz)
      --reverberation (p 0.3: an exponentially decaying noise response, RT60 0.1-0.5 s)
      --noise (p 0.3: white noise at 20-40 dB SNR)
      --gain: the peak to a level drawn from -41 .. -1 dBFS

Each draw comes from the batch's generator, so a seeded run sees the same segments again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

SPEEDS = (0.9, 1.0, 1.1)


@dataclass(frozen=True)
class SpeechAugment:
    """The augmentation above, at ``sample_rate``; ``probability`` of each optional effect."""

    sample_rate: int
    probability: float = 0.3
    speeds: tuple[float, ...] = SPEEDS
    level_db: tuple[float, float] = (-41.0, -1.0)

    def source_length(self, length: int, speed: float) -> int:
        """Samples to read for a segment of ``length`` played at ``speed``."""
        return max(1, round(length * speed))

    def draw_speeds(self, n: int, generator: torch.Generator | None) -> list[float]:
        picks = torch.randint(len(self.speeds), (n,), generator=generator)
        return [self.speeds[int(i)] for i in picks]

    def __call__(
        self, segments: list[torch.Tensor], length: int, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Source segments (each ``source_length`` samples, 1-D) -> augmented (B, 1, length)."""
        out = torch.stack([_to_length(s, length) for s in segments])  # (B, length)
        b = len(out)

        def chosen() -> torch.Tensor:
            return torch.rand(b, generator=generator) < self.probability

        out = _band_limit(out, self.sample_rate, chosen(), generator)
        out = _reverberate(out, self.sample_rate, chosen(), generator)
        out = _add_noise(out, chosen(), generator)
        low, high = self.level_db
        levels = low + (high - low) * torch.rand(b, generator=generator)
        peaks = out.abs().amax(dim=1).clamp_min(1e-8)
        out = out * (10 ** (levels / 20) / peaks)[:, None]
        return out.unsqueeze(1)


def _to_length(x: torch.Tensor, length: int) -> torch.Tensor:
    """``x`` (T,) linearly resampled to ``length`` samples (speed perturbation)."""
    if len(x) == length:
        return x
    return F.interpolate(x.view(1, 1, -1), size=length, mode="linear", align_corners=False)[0, 0]


def _band_limit(x, rate, which, generator) -> torch.Tensor:
    """A high-pass and/or low-pass (brick-wall, in the frequency domain) on the rows chosen."""
    if not which.any():
        return x
    spectrum = torch.fft.rfft(x, dim=1)
    freqs = torch.fft.rfftfreq(x.shape[1], 1 / rate)
    high_pass = 50 + 250 * torch.rand(len(x), generator=generator)
    low_pass = 2500 + 1300 * torch.rand(len(x), generator=generator)
    keep = (freqs[None] >= high_pass[:, None]) & (freqs[None] <= low_pass[:, None])
    keep = keep | ~which[:, None]
    return torch.fft.irfft(spectrum * keep, n=x.shape[1], dim=1)


def _reverberate(x, rate, which, generator) -> torch.Tensor:
    """Convolution with a decaying noise response (RT60 0.1-0.5 s, direct path first, the
    energy kept) on the rows chosen."""
    if not which.any():
        return x
    out = x.clone()
    for i in torch.nonzero(which).flatten().tolist():
        rt60 = 0.1 + 0.4 * float(torch.rand((), generator=generator))
        n = int(rt60 * rate)
        t = torch.arange(n) / rate
        response = torch.randn(n, generator=generator) * torch.exp(-6.9 * t / rt60)
        response[0] = 1.0
        response = response / response.norm()
        wet = torch.fft.irfft(
            torch.fft.rfft(x[i], n=len(x[i]) + n) * torch.fft.rfft(response, n=len(x[i]) + n)
        )[: len(x[i])]
        scale = x[i].norm() / wet.norm().clamp_min(1e-8)
        out[i] = wet * scale
    return out


def _add_noise(x, which, generator) -> torch.Tensor:
    """White noise at 20-40 dB below each chosen row's power."""
    if not which.any():
        return x
    snr_db = 20 + 20 * torch.rand(len(x), generator=generator)
    power = x.pow(2).mean(dim=1).clamp_min(1e-12)
    sigma = torch.sqrt(power / 10 ** (snr_db / 10)) * which
    return x + sigma[:, None] * torch.randn(x.shape, generator=generator)


def describe(augment: SpeechAugment) -> str:
    """One line for the training plan."""
    p = round(100 * augment.probability)
    speeds = "/".join(f"{s:g}" for s in augment.speeds)
    low, high = augment.level_db
    return (
        f"speech augmentation: speed {speeds}, band limits, reverberation and noise ({p}% "
        f"each), peak level {low:g}..{high:g} dBFS ({math.ceil(high - low)} dB)"
    )
