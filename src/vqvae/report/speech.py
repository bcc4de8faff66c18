"""The speech section: players for the original and for the sound decoded from several
stage counts, spectrograms side by side, and the quality each bit rate buys."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..codec import compress, decompress
from ..media.audio import read_audio
from ..metrics import bits_per_second, log_spectral_distance, snr
from ..progress import track
from . import embed, page, svg

MAX_SECONDS = 12.0  # longer sounds are cut: the page carries every version as a WAV


@dataclass
class Decoded:
    """The sound decoded from the first ``stages`` stages of its ``.vqz`` file."""

    stages: int
    samples: np.ndarray
    num_bytes: int
    bits_per_second: float
    snr: float
    lsd: float
    pesq: float


def stage_counts(num_stages: int) -> list[int]:
    """1, 2, 4, ... and every stage: the stage counts the page plays."""
    counts = [k for k in (1, 2, 4, 8, 16, 32) if k < num_stages]
    return [*counts, num_stages]


def _pesq(reference: np.ndarray, decoded: np.ndarray, rate: int) -> float:
    try:
        from ..metrics.audio import pesq_nb

        return pesq_nb(reference, decoded, rate)
    except ImportError:  # the [audio] extra is not installed
        return math.nan


def read_sound(path, sample_rate: int) -> np.ndarray:
    samples, _ = read_audio(path, sample_rate)
    return samples[: int(MAX_SECONDS * sample_rate)]


def decode_at_stages(codec, model, samples: np.ndarray) -> list[Decoded]:
    """The sound compressed with the first k stages, for each k of ``stage_counts``."""
    rate = model.sample_rate
    out = []
    for k in track(stage_counts(model.num_stages), desc="coding speech", unit="rate"):
        options = {"stages": k} if model.num_stages > 1 else {}
        blob = compress(codec, samples, sample_rate=rate, **options)
        decoded, _ = decompress(blob, codec)
        decoded = decoded[: len(samples)]
        out.append(
            Decoded(
                k,
                decoded,
                len(blob),
                bits_per_second(len(blob), len(samples), rate),
                snr(samples, decoded),
                log_spectral_distance(samples, decoded),
                _pesq(samples, decoded, rate),
            )
        )
    return out


def speech_section(model, samples: np.ndarray, decoded: list[Decoded], what: str) -> page.Section:
    rate = model.sample_rate
    seconds = len(samples) / rate
    cells = [
        _cell(f"original ({what}, {seconds:.1f} s at {rate} Hz)", samples, rate),
        *(
            _cell(
                f"{d.stages} of {model.num_stages} stage{'s' if model.num_stages > 1 else ''}: "
                f"{d.bits_per_second:.0f} bit/s, PESQ {d.pesq:.2f}, SNR {d.snr:.1f} dB",
                d.samples,
                rate,
            )
            for d in decoded
        ),
    ]
    rows = [
        [d.stages, d.num_bytes, round(d.bits_per_second), d.pesq, d.snr, d.lsd] for d in decoded
    ]
    table = page.table(rows, ["stages", "bytes", "bit/s", "PESQ-NB", "SNR dB", "LSD dB"])
    has_pesq = any(math.isfinite(d.pesq) for d in decoded)
    key, label = ("pesq", "PESQ-NB") if has_pesq else ("lsd", "log-spectral distance (dB)")
    points = [(d.bits_per_second, getattr(d, key)) for d in decoded]
    labels = [f"{d.stages}" for d in decoded]
    chart = svg.line_chart(
        [svg.Series("stages (label: count)", points, labels=labels)],
        "quality against bit rate",
        "bits per second (whole .vqz file)",
        label,
        480,
        300,
        legend="bottom" if has_pesq else "right",
    )
    body = (
        page.paragraph(
            "The sound compressed to .vqz files keeping the first k stages of the residual "
            "codes (vqvae compress --bitrate picks k from a ceiling), decoded again. Spectrograms: "
            "time across, frequency up to half the sample rate, -80 to 0 dB."
        )
        + page.row([page.figure(chart), table])
        + f"<div class='cols'>{''.join(cells)}</div>"
    )
    return page.Section("Speech", body)


def _cell(label: str, samples: np.ndarray, rate: int) -> str:
    spectrogram = page.image(embed.spectrogram_png(samples), f"spectrogram: {label}", width=260)
    return page.figure(page.audio(embed.wav_data_uri(samples, rate), label) + spectrogram)
