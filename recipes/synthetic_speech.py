"""Synthetic multi-voice, multilingual speech at 8 kHz from espeak-ng, for training and for a
held-out test set that no training data shares a language or a voice with.

    python recipes/synthetic_speech.py OUT_DIR --split heldout [--minutes 6] [--seed 0]
    python recipes/synthetic_speech.py OUT_DIR --split train --minutes 180
    python recipes/synthetic_speech.py OUT_DIR --split wide --minutes 120

Text: the fortune-cookie files that Debian ships (``/usr/share/games/fortunes``: packages
``fortunes-min`` for English and ``fortunes-de``, ``-es``, ``-it``, ``-pl``, ``-br``, ``-cs``,
``-ru``; BSD-style and public-domain texts, see each package's copyright file), one sentence or
saying per file, 2-12 s of speech each. Voices: espeak-ng (GPL-3; the audio it produces is not
covered by its licence) in a language and a voice variant, at a random rate (words a minute)
and pitch. heldout shares no language and no variant with train, wide or val; val shares
no variant with train or wide:

- train: English (US, GB), German, Spanish, Italian; variants m1-m3, f1, f2, klatt, klatt2;
- wide: the train split's languages and variants, and besides them 40 named espeak-ng
  variants (Alex, Annie, ...; none of heldout's or val's) and English sayings read by the
  French, Dutch, Swedish, Finnish, Hungarian, Romanian, Turkish, Greek and Danish voices (each
  language's letter-to-sound rules and prosody: phones and rhythms the five train languages
  lack; no Slavic language and no Portuguese, which heldout has);
- val: for choosing between trained models: the train split's languages read by variants
  that neither train, wide nor heldout use (m7, m8, f5, klatt4, Andy, Annie);
- heldout: Polish, Brazilian Portuguese, Czech, Russian; variants m4-m6, f3, f4, klatt3.

Each file is written as ``{split}_{index:05d}.wav`` (mono, 16-bit, 8 kHz), and
``MANIFEST.jsonl`` lists its text, language, variant, rate and pitch; ``SOURCE.md`` says how
the folder was made. The same arguments give the same files. Needs the Debian packages
``espeak-ng`` and the ``fortunes-*`` packages named above (installs nothing itself).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from vqvae.media import resample, write_audio
from vqvae.progress import Progress

RATE = 8000
FORTUNES = Path("/usr/share/games/fortunes")
TRAIN_LANGUAGES = {
    "en-us": ("en-us", ["fortunes", "literature", "riddles"]),
    "en-gb": ("en-gb", ["fortunes", "literature", "riddles"]),
    "de": ("de", ["de"]),
    "es": ("es", ["es"]),
    "it": ("it", ["it"]),
}
TRAIN_VARIANTS = ["m1", "m2", "m3", "f1", "f2", "klatt", "klatt2"]
# espeak-ng's named voice variants that sound like people (its robots, whisper and effect
# voices left out); val and heldout use none of them
NAMED_VARIANTS = [
    "adam", "Alex", "Alicia", "Andrea", "antonio", "aunty", "belinda", "benjamin", "boris",
    "caleb", "david", "Denis", "Diogo", "ed", "edward", "Gene", "gustave", "Henrique", "Hugo",
    "iven", "Jacky", "john", "kaukovalta", "Lee", "linda", "marcelo", "Marco", "Mario", "max",
    "Michael", "michel", "miguel", "Mike", "norbert", "pablo", "paul", "pedro", "quincy",
    "rob", "robert",
]  # fmt: skip
# split -> (language -> (espeak voice, fortune folder or files), variants)
SPLITS = {
    "train": (TRAIN_LANGUAGES, TRAIN_VARIANTS),
    "wide": (
        {
            **TRAIN_LANGUAGES,
            **{
                f"{lang}-reads-en": (lang, ["fortunes", "literature", "riddles"])
                for lang in ("fr-fr", "nl", "sv", "fi", "hu", "ro", "tr", "el", "da")
            },
        },
        [*TRAIN_VARIANTS, *NAMED_VARIANTS],
    ),
    "val": (TRAIN_LANGUAGES, ["m7", "m8", "f5", "klatt4", "Andy", "Annie"]),
    "heldout": (
        {
            "pl": ("pl", ["pl"]),
            "pt-br": ("pt-br", ["brasil"]),
            "cs": ("cs", ["cs"]),
            "ru": ("ru", ["ru"]),
        },
        ["m4", "m5", "m6", "f3", "f4", "klatt3"],
    ),
}
PACKAGES = {"de": "fortunes-de", "es": "fortunes-es", "it": "fortunes-it", "pl": "fortunes-pl",
            "brasil": "fortunes-br", "cs": "fortunes-cs", "ru": "fortunes-ru"}  # fmt: skip
MIN_CHARS, MAX_CHARS = 40, 220  # about 2-12 s of speech


def sayings(sources: list[str]) -> list[str]:
    """The sayings of fortune files (``%``-separated), whitespace folded, of a speakable length."""
    found = []
    for source in sources:
        path = FORTUNES / source
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.suffix in (".dat", ".u8") or not file.is_file():
                continue
            text = file.read_bytes().decode("utf-8", errors="ignore")
            for item in text.split("\n%\n"):
                line = re.sub(r"\s+", " ", item).strip()
                if MIN_CHARS <= len(line) <= MAX_CHARS and not line.startswith("%"):
                    found.append(line)
    return found


def missing_sources(split: str) -> list[str]:
    """The Debian packages the split needs that are not installed."""
    languages, _ = SPLITS[split]
    missing = [] if shutil.which("espeak-ng") else ["espeak-ng"]
    for _, sources in languages.values():
        for source in sources:
            if not (FORTUNES / source).exists():
                missing.append(PACKAGES.get(source, "fortunes-min"))
    return sorted(set(missing))


def speak(text: str, voice: str, variant: str, words_per_minute: int, pitch: int) -> np.ndarray:
    """espeak-ng's rendering of ``text``, resampled to 8 kHz float32 samples."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "s.wav"
        command = ["espeak-ng", "-v", f"{voice}+{variant}", "-s", str(words_per_minute),
                   "-p", str(pitch), "-w", str(wav), "--stdin"]  # fmt: skip
        subprocess.run(command, input=text.encode(), check=True, capture_output=True, timeout=120)
        samples, rate = sf.read(wav, dtype="float32")
    return resample(samples, rate, RATE)


def generate(out: Path, split: str, minutes: float, seed: int) -> int:
    """Write about ``minutes`` of speech of ``split`` into ``out``; returns the file count."""
    languages, variants = SPLITS[split]
    rng = random.Random(f"{split}-{seed}")
    texts = {lang: sayings(sources) for lang, (_, sources) in languages.items()}
    for lang, found in texts.items():
        if not found:
            raise SystemExit(f"no sayings for {lang}: is its fortunes package installed?")
        rng.shuffle(found)
    out.mkdir(parents=True, exist_ok=True)
    goal, total, index = minutes * 60 * RATE, 0, 0
    bar = Progress(int(goal), f"speaking the {split} split", "sample")
    with open(out / "MANIFEST.jsonl", "w", encoding="utf-8") as manifest:
        while total < goal:
            lang = sorted(languages)[index % len(languages)]
            voice = languages[lang][0]
            text = texts[lang][(index // len(languages)) % len(texts[lang])]
            variant, wpm, pitch = rng.choice(variants), rng.randint(120, 200), rng.randint(25, 75)
            samples = speak(text, voice, variant, wpm, pitch)
            name = f"{split}_{index:05d}.wav"
            write_audio(out / name, samples, RATE)
            record = {"file": name, "language": lang, "voice": voice, "variant": variant,
                      "words_per_minute": wpm, "pitch": pitch, "text": text}  # fmt: skip
            manifest.write(json.dumps(record, ensure_ascii=False) + "\n")
            total += len(samples)
            bar.update(len(samples))
            index += 1
    bar.close()
    (out / "SOURCE.md").write_text(
        f"# Synthetic speech, {split} split\n\n{index} files, {total / RATE / 60:.1f} minutes, "
        f"mono 16-bit 8 kHz, made by `python recipes/synthetic_speech.py OUT --split {split} "
        f"--minutes {minutes:g} --seed {seed}` with espeak-ng from the sayings of Debian's "
        "fortunes packages (see that script for the languages and voices of each split and "
        "the licences); MANIFEST.jsonl lists every file's text and voice.\n"
    )
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write the WAV files into")
    parser.add_argument("--split", choices=sorted(SPLITS), required=True)
    parser.add_argument("--minutes", type=float, default=6.0, help="about how much speech")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    missing = missing_sources(args.split)
    if missing:
        print(f"error: needs the Debian packages {', '.join(missing)} "
              "(apt-get install them first)", file=sys.stderr)  # fmt: skip
        return 2
    count = generate(args.out, args.split, args.minutes, args.seed)
    print(f"wrote {count} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
