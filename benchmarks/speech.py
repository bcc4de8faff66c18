"""Speech coding on speech the model heard and speech it never heard: ours (residual stages
kept) against Codec2 and Opus.

    python benchmarks/speech.py [--model fsdd|RUN_DIR] [--stages 1,2,3,4,6,8]
        [--refined-stages 2,3] [--refine-steps 50] [--postfilter 1.4] [--unfiltered-stages 2,3]
        [--data-dir DIR] [--unseen-seconds 180]

Two sets, each coded by every codec:

- seen: the FSDD test split (recordings with index 0-4) of the speakers the model trained on
  ("fsdd": all six; "fsdd-speakers": all but the held-out nicolas and theo). Each speaker's
  test clips (digit by digit, in order) are joined end to end and cut at clip boundaries into
  files of about 10 s (so headers amortise, as in a real recording).
- unseen: voices and languages no training data has: the held-out FSDD speakers (when the
  model trained on "fsdd-speakers"; joined into ~10 s files the same way) and the held-out
  synthetic sentences of ``recipes/synthetic_speech.py --split heldout`` (espeak-ng voices
  reading Polish, Brazilian Portuguese, Czech and Russian sayings; made into
  ``--synthetic-dir`` on first use), up to ``--unseen-seconds`` of each.

The codecs:

- ours: the .vqz bytes ``vqvae.codec.compress_audio(..., stages=k)`` writes (each sound
  encoded once, its first k stages packed with ``pack_audio``: the same bytes) ->
  ``decompress_audio``, one row per kept stage count k (``vqvae compress --bitrate`` picks the
  most stages whose file fits); and for the ``--refined-stages`` counts a second row, "k
  stages, refined", whose codes are chosen by analysis by synthesis (``refine_steps=N``); all
  decoded with the decoder's postfilter (``--postfilter``, ``vqvae.codec.postfilter``), and
  for the ``--unfiltered-stages`` counts once more without it ("k stages, no postfilter");
- Codec2 (``c2enc`` / ``c2dec`` at 1200, 2400 and 3200 bit/s; raw 16-bit 8 kHz in and out;
  headerless frames, so the file rate is the mode's rate);
- Opus (``opusenc --bitrate 6, 8, 10, 12`` on the 8 kHz WAV, ``opusdec --rate 8000``): the
  whole .opus file's rate (``kbps_file``, Ogg pages and header packets included) and the
  payload rate (``kbps``: the audio packets only, read from the Ogg pages).

Measured on the decoded files: PESQ-NB and STOI (``vqvae.metrics.audio``, means over files),
and on FSDD files the accuracy of a small spoken-digit classifier (log-mel + CNN, trained
here on the clean training split, index 5-49, seeded) on the decoded clips, cut back out of
the decoded files at the original clip boundaries. Single seen clips are also coded one by
one (the header's share of a 0.4 s clip): their file rate and PESQ. Speed: plain encoding,
decoding and refined encoding (3 stages) of one seen file, as multiples of real time on one
thread.

Prints tables and one final JSON line ``{"seen": {"ours": [...], "codec2": [...], "opus":
[...]}, "unseen": {...the same keys...}, "speed": {"encode_x_realtime": ...,
"decode_x_realtime": ..., "refined_encode_x_realtime": ...}}``, every row with the keys
setting, kbps, kbps_file, pesq, stoi, accuracy, kbps_clip, pesq_clip. Needs the Debian
packages ``codec2`` and ``opus-tools``, and for the synthetic set ``espeak-ng`` and the
``fortunes-pl``, ``fortunes-br``, ``fortunes-cs`` and ``fortunes-ru`` packages.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import nn

from vqvae.cli.common import postfilter_exponent
from vqvae.codec import compress_audio, decompress_audio, encode_audio_indices, pack_audio
from vqvae.codec.audio import choose_gain_db, load_audio
from vqvae.codec.postfilter import SHARPENING
from vqvae.data.audio import load_audio_dataset
from vqvae.media import read_audio
from vqvae.metrics import audio as audio_metrics
from vqvae.progress import Progress, is_quiet, set_quiet

sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RATE = 8000
TOOLS = {"c2enc": "codec2", "c2dec": "codec2", "opusenc": "opus-tools", "opusdec": "opus-tools"}
CODEC2_MODES = (1200, 2400, 3200)
OPUS_KBPS = (6, 8, 10, 12)
FILE_SECONDS = 10.0


def log(message: str, started: float) -> None:
    print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)


# ---- data ------------------------------------------------------------------------------------


@dataclass
class SpeechFile:
    """Test clips joined end to end: samples float32 (T,), the clips' bounds and digits."""

    name: str
    samples: np.ndarray
    bounds: list[tuple[int, int]]
    digits: list[int]


def test_files(dataset, seconds: float = FILE_SECONDS) -> list[SpeechFile]:
    """Each speaker's test clips in order, cut into files of about ``seconds`` at clip
    boundaries (a short remainder joins the speaker's last file)."""
    by_speaker: dict[str, list[int]] = {}
    for i, path in enumerate(dataset.paths):
        by_speaker.setdefault(Path(path).stem.split("_")[1], []).append(i)
    files = []
    for speaker, clips in sorted(by_speaker.items()):
        groups, current, length = [], [], 0
        for i in clips:
            current.append(i)
            length += int(dataset.lengths[i])
            if length >= seconds * RATE:
                groups.append(current)
                current, length = [], 0
        if current:
            if groups and length < seconds * RATE / 2:
                groups[-1] += current
            else:
                groups.append(current)
        for n, group in enumerate(groups):
            parts = [dataset.clip(i).reshape(-1).numpy() for i in group]
            ends = np.cumsum([len(p) for p in parts])
            bounds = [(int(e - len(p)), int(e)) for p, e in zip(parts, ends, strict=True)]
            digits = [int(dataset.labels[i]) for i in group]
            files.append(SpeechFile(f"{speaker}-{n}", np.concatenate(parts), bounds, digits))
    return files


@contextmanager
def silenced_progress():
    """The library's progress displays off for a while (each refined sound would show one)."""
    quiet = is_quiet()
    set_quiet(True)
    try:
        yield
    finally:
        set_quiet(quiet)


def fit_length(y: np.ndarray, n: int) -> np.ndarray:
    """A decoded signal cut or zero-padded to the reference's length."""
    y = np.asarray(y, dtype=np.float32).reshape(-1)[:n]
    return np.pad(y, (0, n - len(y))) if len(y) < n else y


# ---- the classical codecs --------------------------------------------------------------------


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def _pcm16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype("<i2")


def codec2(x: np.ndarray, mode: int, work: Path) -> tuple[np.ndarray, int, int]:
    """(decoded, file bytes, payload bytes) of Codec2 at ``mode`` bit/s (headerless frames)."""
    raw, bits, out = work / "in.raw", work / "c2.bit", work / "out.raw"
    _pcm16(x).tofile(raw)
    subprocess.run(["c2enc", str(mode), str(raw), str(bits)], check=True, capture_output=True)
    subprocess.run(["c2dec", str(mode), str(bits), str(out)], check=True, capture_output=True)
    y = np.fromfile(out, dtype="<i2").astype(np.float32) / 32768.0
    size = bits.stat().st_size
    return fit_length(y, len(x)), size, size


def ogg_packets(data: bytes) -> list[int]:
    """Sizes of the packets of an Ogg stream (one logical stream), in order."""
    sizes, current, pos = [], 0, 0
    while pos + 27 <= len(data):
        if data[pos : pos + 4] != b"OggS":
            raise ValueError("not an Ogg page")
        segments = data[pos + 26]
        lacing = data[pos + 27 : pos + 27 + segments]
        for value in lacing:
            current += value
            if value < 255:  # a packet ends here
                sizes.append(current)
                current = 0
        pos += 27 + segments + sum(lacing)
    return sizes


def opus(x: np.ndarray, kbps: int, work: Path) -> tuple[np.ndarray, int, int]:
    """(decoded, file bytes, payload bytes) of Opus at ``kbps`` on 8 kHz input. The payload is
    the audio packets: every packet after OpusHead and OpusTags."""
    wav, enc, out = work / "in.wav", work / "o.opus", work / "out.wav"
    sf.write(wav, _pcm16(x), RATE, subtype="PCM_16")
    subprocess.run(
        ["opusenc", "--quiet", "--bitrate", str(kbps), str(wav), str(enc)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["opusdec", "--quiet", "--rate", str(RATE), str(enc), str(out)],
        check=True,
        capture_output=True,
    )
    y, rate = sf.read(out, dtype="float32")
    assert rate == RATE, rate
    data = enc.read_bytes()
    payload = sum(ogg_packets(data)[2:])
    return fit_length(y if y.ndim == 1 else y[:, 0], len(x)), len(data), payload


# ---- the spoken-digit classifier -------------------------------------------------------------

N_FFT, HOP, MELS, WINDOW = 256, 128, 32, 10240  # 32 ms frames every 16 ms over 1.28 s


def mel_filters(n_fft: int = N_FFT, mels: int = MELS, rate: int = RATE) -> torch.Tensor:
    """Triangular mel filters (HTK mel scale), (mels, n_fft // 2 + 1)."""

    def mel(f):
        return 2595 * np.log10(1 + f / 700)

    def hz(m):
        return 700 * (10 ** (m / 2595) - 1)

    edges = hz(np.linspace(mel(0), mel(rate / 2), mels + 2))
    freqs = np.linspace(0, rate / 2, n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up, down = (freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)
    return torch.from_numpy(np.maximum(0, np.minimum(up, down))).float()


_FILTERS = mel_filters()


def features(clips: list[np.ndarray]) -> torch.Tensor:
    """Log-mel spectrograms of clips, each centred in a WINDOW-sample window (cropped or
    zero-padded): (N, 1, MELS, frames)."""
    x = torch.zeros(len(clips), WINDOW)
    for i, clip in enumerate(clips):
        c = torch.as_tensor(np.asarray(clip, dtype=np.float32))
        if len(c) > WINDOW:
            c = c[(len(c) - WINDOW) // 2 :][:WINDOW]
        start = (WINDOW - len(c)) // 2
        x[i, start : start + len(c)] = c
    window = torch.hann_window(N_FFT)
    spec = torch.stft(x, N_FFT, HOP, window=window, return_complex=True).abs() ** 2
    return torch.log(_FILTERS @ spec + 1e-6)[:, None]  # (N, 1, MELS, frames)


class DigitNet(nn.Module):
    """A small 1-D CNN over log-mel frames (the mel bands as channels): 3 conv blocks, mean
    and max over time, 10 classes."""

    def __init__(self, width: int = 48) -> None:
        super().__init__()
        layers, channels = [], MELS
        for kernel in (5, 5, 3):
            layers += [
                nn.Conv1d(channels, width, kernel, padding=kernel // 2),
                nn.BatchNorm1d(width),
                nn.ReLU(),
                nn.MaxPool1d(2),
            ]
            channels = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(2 * width, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x[:, 0])  # (N, MELS, frames) -> (N, width, frames / 8)
        return self.head(torch.cat([h.mean(-1), h.amax(-1)], dim=1))


def train_classifier(train, epochs: int = 12, seed: int = 0) -> nn.Module:
    """DigitNet trained on the clean training clips (Adam, cosine schedule, batch 64, a random
    shift of up to +-6 frames and a random gain of +-6 dB as augmentation), seeded."""
    torch.manual_seed(seed)
    x = features([train.clip(i).reshape(-1).numpy() for i in range(len(train))])
    mean, std = x.mean(), x.std()
    y = train.labels.clone()
    net = DigitNet()
    net.register_buffer("norm", torch.stack([mean, std]))
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * math.ceil(len(x) / 64))
    generator = torch.Generator().manual_seed(seed)
    bar = Progress(epochs, "training the digit classifier", "epoch")
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), 64):
            idx = order[i : i + 64]
            shift = int(torch.randint(-6, 7, (), generator=generator))
            gain = 2 * math.log(10 ** (float(torch.rand((), generator=generator)) * 0.6 - 0.3))
            batch = (torch.roll(x[idx], shift, dims=-1) + gain - mean) / std
            loss = nn.functional.cross_entropy(net(batch), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        bar.update()
    bar.close()
    return net.eval()


@torch.no_grad()
def classify(net: nn.Module, clips: list[np.ndarray]) -> np.ndarray:
    mean, std = net.norm
    return net((features(clips) - mean) / std).argmax(1).numpy()


# ---- running one codec over the test set -----------------------------------------------------


def evaluate(name, setting, code, files, singles, net) -> dict:
    """Code every file (and single clip) with ``code(x) -> (decoded, file bytes, payload
    bytes)``; rates in kbit/s, PESQ/STOI means over files, accuracy over the clips cut from
    the decoded files."""
    seconds = sum(len(f.samples) for f in files) / RATE
    file_bytes = payload = 0
    pesq, stoi, predicted, truth = [], [], [], []
    for f in files:
        y, size, pay = code(f.samples)
        file_bytes += size
        payload += pay
        pesq.append(audio_metrics.pesq_nb(f.samples, y))
        stoi.append(audio_metrics.stoi(f.samples, y))
        if f.digits:  # FSDD: the spoken digits, cut back out of the decoded file
            predicted += list(classify(net, [y[a:b] for a, b in f.bounds]))
            truth += f.digits
    clip_bytes = clip_seconds = 0.0
    clip_pesq = []
    for x in singles:
        y, size, _ = code(x)
        clip_bytes += size
        clip_seconds += len(x) / RATE
        clip_pesq.append(audio_metrics.pesq_nb(x, y))
    row = {
        "setting": setting,
        "kbps": 8 * payload / seconds / 1000,
        "kbps_file": 8 * file_bytes / seconds / 1000,
        "pesq": float(np.nanmean(pesq)),
        "stoi": float(np.mean(stoi)),
        "accuracy": float(np.mean(np.array(predicted) == np.array(truth))) if truth else math.nan,
        "kbps_clip": 8 * clip_bytes / clip_seconds / 1000 if singles else float("nan"),
        "pesq_clip": float(np.nanmean(clip_pesq)) if singles else float("nan"),
    }
    return {k: (_number(v) if isinstance(v, float) else v) for k, v in row.items()}


def _number(value: float) -> float | None:
    """Rounded, or None (JSON null) where there is nothing to measure."""
    return None if math.isnan(value) else round(value, 4)


def _cell(value, width: int, digits: int = 3) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:{width}.{digits}f}"


def print_table(title: str, results: dict[str, list[dict]]) -> None:
    print(f"\n{title}")
    print(f"{'codec':8} {'setting':>18} {'kbit/s':>7} {'file':>7} {'PESQ-NB':>8} {'STOI':>6} "
          f"{'acc':>6} | {'clip kbit/s':>11} {'clip PESQ':>9}")  # fmt: skip
    for codec, rows in results.items():
        for r in rows:
            print(
                f"{codec:8} {r['setting']:>18} {_cell(r['kbps'], 7)} {_cell(r['kbps_file'], 7)} "
                f"{_cell(r['pesq'], 8)} {_cell(r['stoi'], 6)} {_cell(r['accuracy'], 6)} | "
                f"{_cell(r['kbps_clip'], 11)} {_cell(r['pesq_clip'], 9)}"
            )


def synthetic_files(folder: Path, seconds: float) -> list[SpeechFile]:
    """The held-out synthetic sentences (``recipes/synthetic_speech.py --split heldout``) in
    file order, up to ``seconds`` of speech, one file a sentence."""
    files, total = [], 0.0
    for path in sorted(folder.glob("heldout_*.wav")):
        samples = read_audio(path, RATE)[0]
        files.append(SpeechFile(path.stem, samples, [], []))
        total += len(samples) / RATE
        if total >= seconds:
            break
    return files


def make_synthetic(folder: Path, minutes: float) -> None:
    """Generate the held-out synthetic set into ``folder`` once (espeak-ng, Debian fortunes)."""
    if any(folder.glob("heldout_*.wav")):
        return
    sys.path.insert(0, str(ROOT / "recipes"))
    import synthetic_speech

    missing = synthetic_speech.missing_sources("heldout")
    if missing:
        raise SystemExit(
            f"speech.py: the unseen synthetic set needs {', '.join(missing)}: "
            f"sudo apt-get install {' '.join(missing)}"
        )
    synthetic_speech.generate(folder, "heldout", minutes, seed=0)


def trained_speakers(model_name: str) -> str:
    """The FSDD dataset the model trained on ("fsdd": every speaker, "fsdd-speakers": all but
    the held-out ones), from its run config; another dataset counts as "fsdd"."""
    from vqvae import checkpoint, pretrained

    config = checkpoint.read_run_config(pretrained.resolve(model_name))
    dataset = str(config.get("train", {}).get("dataset", "fsdd"))
    return dataset if dataset in ("fsdd", "fsdd-speakers") else "fsdd"


def coding_jobs(codec, stages, refined, unfiltered, refine_steps, postfilter, work: Path) -> list:
    """(codec name, setting, code function) of every row: ours at each stage count (and
    refined, and without the postfilter), Codec2's modes, Opus's rates."""
    encoded: dict[int, tuple[torch.Tensor, float]] = {}  # every stage of a sound, encoded once

    def ours(k, exponent=postfilter):
        def code(x):
            if id(x) not in encoded:  # the codes compress_audio makes, at the level it codes
                encoded[id(x)] = (encode_audio_indices(codec, x), choose_gain_db(codec.model, x))
            codes, gain = encoded[id(x)]
            data = pack_audio(codec, codes[:k], len(x), gain_db=gain)  # = compress(stages=k)
            y, _ = decompress_audio(data, codec, postfilter=exponent)
            return fit_length(y, len(x)), len(data), len(data)

        return code

    def ours_refined(k):
        def code(x):
            with silenced_progress():  # the table's own bar shows the progress
                data = compress_audio(codec, x, stages=k, refine_steps=refine_steps)
            y, _ = decompress_audio(data, codec, postfilter=postfilter)
            return fit_length(y, len(x)), len(data), len(data)

        return code

    jobs = [("ours", f"{k} stages", ours(k)) for k in stages]
    jobs += [("ours", f"{k} stages, refined", ours_refined(k)) for k in refined]
    jobs += [("ours", f"{k} stages, no postfilter", ours(k, 1.0)) for k in unfiltered]
    jobs += [("codec2", str(m), lambda x, m=m: codec2(x, m, work)) for m in CODEC2_MODES]
    jobs += [("opus", f"{b}k", lambda x, b=b: opus(x, b, work)) for b in OPUS_KBPS]
    return jobs


def run_set(label, files, singles, net, jobs, started) -> dict[str, list[dict]]:
    """Every job's row on one set of files."""
    results: dict[str, list[dict]] = {"ours": [], "codec2": [], "opus": []}
    bar = Progress(len(jobs), f"coding the {label} set", "setting")
    for name, setting, code in jobs:
        row = evaluate(name, setting, code, files, singles, net)
        results[name].append(row)
        bar.update()
        log(f"{label} {name} {setting}: {row['kbps']:.3f} kbit/s, PESQ {row['pesq']:.3f}, "
            f"STOI {row['stoi']:.3f}", started)  # fmt: skip
    bar.close()
    return results


def measure_speed(codec, x: np.ndarray, refine_steps: int) -> dict[str, float]:
    """Encode, decode and refined-encode (3 stages) speed as multiples of real time, on one
    thread, of the sound ``x``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    seconds = len(x) / RATE
    try:
        t = time.perf_counter()
        data = compress_audio(codec, x)
        encode = time.perf_counter() - t
        t = time.perf_counter()
        decompress_audio(data, codec)
        decode = time.perf_counter() - t
        t = time.perf_counter()
        with silenced_progress():
            compress_audio(codec, x, stages=min(3, codec.model.num_stages),
                           refine_steps=refine_steps)  # fmt: skip
        refined = time.perf_counter() - t
    finally:
        torch.set_num_threads(threads)
    return {
        "seconds": round(seconds, 2),
        "encode_x_realtime": round(seconds / encode, 2),
        "decode_x_realtime": round(seconds / decode, 2),
        "refined_encode_x_realtime": round(seconds / refined, 3),
        "refine_steps": refine_steps,
    }


def add_data_arguments(p: argparse.ArgumentParser, synthetic: bool = True) -> None:
    """``--data-dir`` (FSDD's parent) and, with ``synthetic``, ``--synthetic-dir`` (the
    held-out synthetic set)."""
    p.add_argument(
        "--data-dir",
        default=os.environ.get("VQVAE_DATA_DIR", str(ROOT.parent / "shared" / "data")),
        help="folder holding fsdd/ (default: $VQVAE_DATA_DIR, else ../shared/data)",
    )
    if not synthetic:
        return
    p.add_argument(
        "--synthetic-dir",
        default=str(ROOT / "runs" / "synthetic-heldout"),
        help="the held-out synthetic sentences (made there on first use by "
        "recipes/synthetic_speech.py --split heldout)",
    )


def _arguments() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="fsdd", help="shipped model name or run dir (default fsdd)")
    p.add_argument(
        "--stages",
        default=None,
        help="comma-separated residual stage counts to keep (default 1..S, the model's)",
    )
    p.add_argument(
        "--refined-stages",
        default="2,3",
        help="stage counts also coded with refined codes (--refine-steps; '' for none)",
    )
    p.add_argument(
        "--refine-steps",
        type=int,
        default=50,
        help="analysis-by-synthesis steps of the refined rows (default 50)",
    )
    p.add_argument(
        "--postfilter",
        type=postfilter_exponent,
        default=SHARPENING,
        help=f"the decoder's postfilter exponent (default {SHARPENING:g}; 1: off)",
    )
    p.add_argument(
        "--unfiltered-stages",
        default="2,3",
        help="stage counts also decoded without the postfilter ('' for none)",
    )
    add_data_arguments(p)
    p.add_argument(
        "--unseen-seconds",
        type=float,
        default=180.0,
        help="seconds of each unseen part (held-out speakers, synthetic voices) to code",
    )
    p.add_argument("--clips", type=int, default=30, help="single clips coded alone (0: none)")
    p.add_argument("--epochs", type=int, default=12, help="classifier training epochs")
    p.add_argument("--quick", action="store_true", help="2 files a set, 10 clips (a smoke test)")
    figures.add_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _arguments().parse_args(argv)
    if args.plot_only:
        return figures.plot_only("speech", args.plot_only)
    missing = missing_tools()
    if missing:
        packages = sorted({TOOLS[t] for t in missing})
        print(
            f"speech.py: {', '.join(missing)} not found; install them with: "
            f"sudo apt-get install {' '.join(packages)}",
            file=sys.stderr,
        )
        return 2
    started = time.perf_counter()
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    codec = load_audio(args.model)
    model = codec.model
    if model.sample_rate != RATE:
        raise SystemExit(f"speech.py: the model codes {model.sample_rate} Hz; FSDD is {RATE} Hz")
    log(f"model {args.model}: {model.num_stages} stages, {codec.entropy_model.name} tables, "
        f"{model.bitrate(1):.0f} bit/s a stage (nominal)", started)  # fmt: skip
    stages = (
        [int(s) for s in args.stages.split(",")] if args.stages else range(1, model.num_stages + 1)
    )
    refined = [int(s) for s in args.refined_stages.split(",") if s.strip()]
    unfiltered = [int(s) for s in args.unfiltered_stages.split(",") if s.strip()]
    trained_on = trained_speakers(args.model)
    test = load_audio_dataset(trained_on, "test", args.data_dir)
    train = load_audio_dataset("fsdd", "train", args.data_dir)
    seen = test_files(test)
    unseen = []
    if trained_on == "fsdd-speakers":  # FSDD's held-out voices are unseen only then
        heldout = test_files(load_audio_dataset("fsdd-heldout", "test", args.data_dir))
        unseen += _first_seconds(heldout, args.unseen_seconds)
    synthetic = Path(args.synthetic_dir)
    make_synthetic(synthetic, max(6.0, args.unseen_seconds / 60))
    unseen += synthetic_files(synthetic, args.unseen_seconds)
    rng = np.random.default_rng(0)
    picked = sorted(rng.choice(len(test), size=min(args.clips, len(test)), replace=False))
    singles = [test.clip(int(i)).reshape(-1).numpy() for i in picked]
    if args.quick:
        seen, unseen, singles = seen[:2], unseen[-2:], singles[:10]
    for label, files in (("seen", seen), ("unseen", unseen)):
        seconds = sum(len(f.samples) for f in files) / RATE
        log(f"{label}: {len(files)} files ({seconds:.0f} s)", started)

    net = train_classifier(train, epochs=args.epochs)
    clips = [test.clip(i).reshape(-1).numpy() for i in range(len(test))]
    clean = float(np.mean(classify(net, clips) == test.labels.numpy()))
    log(f"digit classifier: clean test accuracy {clean:.3f}", started)

    with tempfile.TemporaryDirectory() as tmp:
        jobs = coding_jobs(
            codec, stages, refined, unfiltered, args.refine_steps, args.postfilter, Path(tmp)
        )
        results = {
            "seen": run_set("seen", seen, singles, net, jobs, started),
            "unseen": run_set("unseen", unseen, [], net, jobs, started),
        }
    results["speed"] = measure_speed(codec, seen[0].samples, args.refine_steps)
    print_table(f"seen: {trained_on} test split, the speakers it trained on, files of "
                f"~{FILE_SECONDS:g} s; clean digit accuracy {clean:.3f}", results["seen"])  # fmt: skip
    print_table("unseen: held-out voices and languages", results["unseen"])
    print(f"\nspeed (one thread): {results['speed']}")
    print(f"figure: {figures.save('speech', results, args.results_dir)}")
    print(json.dumps(results))
    return 0


def _first_seconds(files: list[SpeechFile], seconds: float) -> list[SpeechFile]:
    """Files in turn, one speaker after the other, up to ``seconds`` of speech in all (at
    least one file of each speaker)."""
    by_speaker: dict[str, list[SpeechFile]] = {}
    for f in files:
        by_speaker.setdefault(f.name.split("-")[0], []).append(f)
    picked, total, n = [], 0.0, 0
    while total < seconds and any(n < len(v) for v in by_speaker.values()):
        for group in by_speaker.values():
            if n < len(group):
                picked.append(group[n])
                total += len(group[n].samples) / RATE
        n += 1
    return picked


if __name__ == "__main__":
    sys.exit(main())
