"""recipes/synthetic_speech.py: its splits keep the test voices apart, and it writes what its
manifest says."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "recipes"))
import synthetic_speech  # noqa: E402


def _languages(split: str) -> set[str]:
    return {voice for voice, _ in synthetic_speech.SPLITS[split][0].values()}


def _variants(split: str) -> set[str]:
    return {v.lower() for v in synthetic_speech.SPLITS[split][1]}


def test_heldout_shares_no_language_or_voice_with_any_other_split():
    for split in ("train", "wide", "val"):
        assert not _languages("heldout") & _languages(split)
        assert not _variants("heldout") & _variants(split)


def test_val_voices_are_in_no_training_split_and_wide_holds_train():
    assert not _variants("val") & (_variants("train") | _variants("wide"))
    assert _variants("train") < _variants("wide") and _languages("train") < _languages("wide")
    slavic_or_portuguese = {
        "pl",
        "cs",
        "sk",
        "ru",
        "uk",
        "be",
        "bg",
        "sr",
        "hr",
        "sl",
        "pt",
        "pt-br",
    }
    assert not _languages("wide") & slavic_or_portuguese


@pytest.mark.skipif(
    bool(synthetic_speech.missing_sources("val")), reason="espeak-ng / fortunes not installed"
)
def test_a_split_is_written_as_its_manifest_says_and_the_same_twice(tmp_path):
    import soundfile as sf

    first, second = tmp_path / "a", tmp_path / "b"
    count = synthetic_speech.generate(first, "val", minutes=0.05, seed=3)
    assert synthetic_speech.generate(second, "val", minutes=0.05, seed=3) == count >= 1
    records = [json.loads(line) for line in (first / "MANIFEST.jsonl").read_text().splitlines()]
    assert [r["file"] for r in records] == sorted(p.name for p in first.glob("val_*.wav"))
    for record in records:
        assert record["variant"] in synthetic_speech.SPLITS["val"][1]
        info = sf.info(str(first / record["file"]))
        assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "PCM_16")
        assert (first / record["file"]).read_bytes() == (second / record["file"]).read_bytes()
    assert "--split val" in (first / "SOURCE.md").read_text()
