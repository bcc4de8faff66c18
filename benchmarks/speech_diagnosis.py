"""Where an audio model loses speech quality: its codes, its magnitudes or its phase.

    python benchmarks/speech_diagnosis.py [--model fsdd|RUN_DIR] [--clips 60] [--stages 1,3,8]
        [--refine-steps 50]

On FSDD test clips (every n-th of the 300, ``--clips`` of them) it scores PESQ-NB of:

- ``stages k``: the model's decode of its first k residual stages (what the codec sends);
- ``unquantized``: the decoder fed the encoder's continuous latents (no codebook at all): the
  ceiling of the autoencoder itself, whatever the bitrate;
- ``stages S, refined``: every stage, the codes chosen by analysis by synthesis
  (``vqvae.codec.audio_refine``, ``--refine-steps``): how far better codes, which the encoder
  does not find, lift the same decoder;
- ``decoded magnitude, true phase`` / ``true magnitude, decoded phase``: the STFT (256-sample
  Hann window, hop 64) of the decode of all stages with its phase or its magnitude replaced
  by the original's, then inverted: how much each half of the spectrum costs.

If ``unquantized`` is no better than the most stages, more bits of the encoder's codes cannot
help and the encoder / decoder (their size, training, loss) is what limits quality; if the
refined codes score above ``unquantized``, the encoder is part of that limit (its single pass
misses latents the decoder would render better); the two swaps tell whether the decoder's
magnitudes or its phases are the larger loss. Prints a table and one final JSON
line ``{"model", "clips", "pesq": {row: mean PESQ-NB}}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

from vqvae import VQVAE
from vqvae.codec.audio_refine import refine_codes
from vqvae.data.audio import load_audio_dataset
from vqvae.metrics import audio as audio_metrics
from vqvae.models import is_audio
from vqvae.progress import track

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speech import add_data_arguments  # noqa: E402

N_FFT, HOP = 256, 64


def stft(x: np.ndarray) -> torch.Tensor:
    window = torch.hann_window(N_FFT, dtype=torch.float64)
    return torch.stft(torch.from_numpy(x).double(), N_FFT, HOP, window=window, return_complex=True)


def istft(spectrum: torch.Tensor, length: int) -> np.ndarray:
    window = torch.hann_window(N_FFT, dtype=torch.float64)
    return torch.istft(spectrum, N_FFT, HOP, window=window, length=length).float().numpy()


def swap(magnitude_of: np.ndarray, phase_of: np.ndarray) -> np.ndarray:
    """A signal with the STFT magnitude of one and the phase of the other."""
    a, b = stft(magnitude_of), stft(phase_of)
    return istft(torch.polar(a.abs(), torch.angle(b)), len(magnitude_of))


def diagnose(
    model, clips: list[np.ndarray], stages: list[int], refine_steps: int = 0
) -> dict[str, float]:
    """Mean PESQ-NB of each row (see the module doc) over ``clips`` (float32 arrays); the
    refined row when ``refine_steps`` > 0."""
    scores: dict[str, list[float]] = {}

    def score(row: str, x: np.ndarray, y: torch.Tensor | np.ndarray) -> None:
        y = y.reshape(-1)[: len(x)]
        y = y.numpy() if isinstance(y, torch.Tensor) else y
        scores.setdefault(row, []).append(audio_metrics.pesq_nb(x, np.clip(y, -1, 1)))

    with torch.no_grad():
        for x in track(clips, desc="diagnosing", unit="clip"):
            t = torch.from_numpy(x).reshape(1, 1, -1)
            indices = model.encode(t)
            for k in stages:
                score(f"stages {k}", x, model.decode(indices, stages=k))
            score("unquantized", x, model.decode_latents(model.encode_latents(t)))
            if refine_steps:
                refined = refine_codes(model, t, model.num_stages, refine_steps)
                score(f"stages {model.num_stages}, refined", x, model.decode(refined[None]))
            full = model.decode(indices).reshape(-1)[: len(x)].clamp(-1, 1).numpy()
            score("decoded magnitude, true phase", x, swap(full, x))
            score("true magnitude, decoded phase", x, swap(x, full))
    return {row: round(float(np.nanmean(v)), 4) for row, v in scores.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="fsdd", help="shipped model name or run dir (default fsdd)")
    p.add_argument("--clips", type=int, default=60, help="test clips, evenly spaced (default 60)")
    p.add_argument("--stages", default="1,3", help="stage counts to score (default 1,3; + all)")
    add_data_arguments(p, synthetic=False)
    p.add_argument(
        "--refine-steps",
        type=int,
        default=50,
        help="analysis-by-synthesis steps of the refined row (default 50; 0: no such row)",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    model = VQVAE.from_pretrained(args.model).eval()
    if not is_audio(model):
        p.error(f"{args.model} is not an audio model")
    stages = sorted({int(s) for s in args.stages.split(",") if s.strip()} | {model.num_stages})
    if not all(1 <= s <= model.num_stages for s in stages):
        p.error(f"--stages must be within 1..{model.num_stages}")
    test = load_audio_dataset("fsdd", "test", args.data_dir)
    step = max(1, len(test) // max(1, args.clips))
    clips = [test.clip(i).reshape(-1).numpy() for i in range(0, len(test), step)][: args.clips]
    pesq = diagnose(model, clips, stages, args.refine_steps)
    print(f"\n{args.model} on {len(clips)} FSDD test clips")
    for row, value in pesq.items():
        print(f"{row:32} PESQ-NB {value:.3f}")
    print(json.dumps({"model": args.model, "clips": len(clips), "pesq": pesq}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
