"""Speech coding at every input level: the same sounds scaled to peaks from -1 to -50 dBFS.

    python benchmarks/speech_levels.py [--model speech|fsdd|RUN_DIR] [--bitrate 2400]
        [--files 5] [--levels -1,-10,-20,-30,-40,-50]

Takes the first ``--files`` files of each set of ``speech.py`` (seen: FSDD test speech joined
into ~10 s files; unseen: the held-out synthetic sentences), scales each to every peak level
(and leaves it at its own), codes it as ``vqvae compress --bitrate`` does
(``vqvae.codec.compress_audio``, level search included) and decodes it
(``decompress_audio``, postfilter included). Scores PESQ-NB against the scaled input.

Prints a table and one final JSON line ``{"model", "bitrate", "seen": {level: pesq},
"unseen": {...}, "spread": {"seen", "unseen"}, "max_peak"}``: ``level`` is ``"own"`` or the
peak in dBFS, ``spread`` the best level's PESQ minus the worst's, ``max_peak`` the largest
decoded sample (1.0 would be clipping). Needs the Debian packages of ``speech.py``'s unseen set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vqvae.codec import compress_audio, decompress_audio
from vqvae.codec.audio import load_audio
from vqvae.data.audio import load_audio_dataset
from vqvae.metrics import audio as audio_metrics
from vqvae.progress import Progress

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speech import (  # noqa: E402
    add_data_arguments,
    log,
    make_synthetic,
    synthetic_files,
    test_files,
)


def at_peak(x: np.ndarray, dbfs: float) -> np.ndarray:
    """``x`` scaled so that its largest sample is ``dbfs`` below full scale."""
    return (x * (10 ** (dbfs / 20) / np.abs(x).max())).astype(np.float32)


def code_at_levels(codec, sounds, levels, bitrate, bar) -> tuple[dict[str, float], float]:
    """Mean PESQ-NB of ``sounds`` at each level ("own" and each peak), and the largest
    decoded sample."""
    scores: dict[str, list[float]] = {}
    max_peak = 0.0
    for x in sounds:
        for level in ("own", *levels):
            scaled = x if level == "own" else at_peak(x, level)
            y, _ = decompress_audio(compress_audio(codec, scaled, bitrate=bitrate), codec)
            max_peak = max(max_peak, float(np.abs(y).max()))
            scores.setdefault(str(level), []).append(audio_metrics.pesq_nb(scaled, y))
            bar.update()
    return {level: round(float(np.nanmean(v)), 3) for level, v in scores.items()}, max_peak


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="speech", help="shipped model name or run dir")
    p.add_argument("--bitrate", type=float, default=2400.0, help="bit/s ceiling (default 2400)")
    p.add_argument("--files", type=int, default=5, help="files of each set (default 5)")
    p.add_argument("--levels", default="-1,-10,-20,-30,-40,-50", help="peak levels in dBFS")
    add_data_arguments(p)
    args = p.parse_args(argv)
    levels = [float(v) for v in args.levels.split(",") if v.strip()]
    if any(not -120 < v <= 0 for v in levels):
        p.error("--levels are peaks in dBFS, each in (-120, 0]")
    started = time.perf_counter()
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    codec = load_audio(args.model)
    seen = [f.samples for f in test_files(load_audio_dataset("fsdd", "test", args.data_dir))]
    synthetic = Path(args.synthetic_dir)
    make_synthetic(synthetic, 6.0)
    unseen = [f.samples for f in synthetic_files(synthetic, float("inf"))]
    sets = {"seen": seen[: args.files], "unseen": unseen[: args.files]}
    bar = Progress(sum(map(len, sets.values())) * (len(levels) + 1), "coding", "file")
    results: dict = {"model": args.model, "bitrate": args.bitrate}
    max_peak = 0.0
    for name, sounds in sets.items():
        results[name], peak = code_at_levels(codec, sounds, levels, args.bitrate, bar)
        max_peak = max(max_peak, peak)
        log(f"{name}: {results[name]}", started)
    bar.close()
    results["spread"] = {
        name: round(max(results[name].values()) - min(results[name].values()), 3) for name in sets
    }
    results["max_peak"] = round(max_peak, 4)
    print(f"\n{args.model} at --bitrate {args.bitrate:g}: PESQ-NB by peak level (dBFS)")
    print(f"{'set':8}" + "".join(f"{level:>8}" for level in results["seen"]))
    for name in sets:
        print(f"{name:8}" + "".join(f"{v:8.3f}" for v in results[name].values()))
    print(f"largest decoded sample {results['max_peak']}; spread {results['spread']}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
