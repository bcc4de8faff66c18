"""Hostile and careless audio input: bad sound files and damaged audio .vqz files are refused
with one line (exit code 2 in the CLI, no traceback, no output file), in bounded time."""

import json
import struct
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given

from vqvae.cli import main
from vqvae.codec import Codec, FormatError, compress_audio, decompress_audio, model_fingerprint
from vqvae.codec.container import MAGIC
from vqvae.entropy.stages import StageEntropyModel

sys.path.insert(0, str(Path(__file__).parent))
from test_audio_codec import RATE, speech_like, tiny_audio_model  # noqa: E402
from test_codec import fuzz_settings, mutated  # noqa: E402


@pytest.fixture(scope="module")
def codec():
    model = tiny_audio_model(seed=3)
    return Codec(model, StageEntropyModel(np.arange(4 * 16).reshape(4, 16) % 7 + 1))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, codec):
    path = tmp_path_factory.mktemp("hostile_audio") / "run"
    codec.model.save_pretrained(path)
    counts = codec.entropy_model.counts.astype(int)
    entropy = {"format_version": 1, "kind": "static", "counts": counts.sum(0).tolist()}
    (path / "entropy.json").write_text(json.dumps({**entropy, "stage_counts": counts.tolist()}))
    return path


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value >> 7 else 0))
        value >>= 7
        if not value:
            return bytes(out)


def _audio_bomb(codec, samples: int, payload: bytes = b"", stages: int = 4) -> bytes:
    """A version 3 stream with a valid header and CRC claiming ``samples`` samples."""
    name = codec.entropy_model.name.encode()
    data = MAGIC + b"\x03" + model_fingerprint(codec.model) + bytes([len(name)]) + name
    data += codec.entropy_model.fingerprint() + b"\x01" + _uvarint(RATE) + _uvarint(samples)
    data += _uvarint(8) + bytes([stages]) + _uvarint(len(payload)) + payload
    return data + struct.pack("<I", zlib.crc32(data))


def _refused(capsys, argv, *outputs: Path) -> str:
    assert main(argv) == 2, argv
    err = capsys.readouterr().err
    assert err.startswith("vqvae: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for path in outputs:
        assert not path.exists(), path
    return err


def _write_bad(kind: str, path: Path) -> None:
    x = speech_like(800)
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "not audio":
        path.write_text("this is not a sound file\n" * 20)
    elif kind == "8-bit":
        sf.write(path, x, RATE, subtype="PCM_U8")
    elif kind == "stereo":
        sf.write(path, np.stack([x, x], axis=1), RATE, subtype="PCM_16")
    elif kind == "no samples":
        sf.write(path, np.zeros(0), RATE, subtype="PCM_16")
    elif kind == "huge":  # 601 s at 1 kHz: over the 600 s default, read from the header
        sf.write(path, np.zeros(601_000, dtype=np.int16), 1000, subtype="PCM_16")
    elif kind == "truncated":
        sf.write(path, x, RATE, subtype="PCM_16")
        path.write_bytes(path.read_bytes()[:30])


@pytest.mark.parametrize(
    "kind, message",
    [
        ("empty", "empty"),
        ("not audio", "not a readable audio file"),
        ("8-bit", "unsupported sample format"),
        ("stereo", "2 channels"),
        ("no samples", "no samples"),
        ("huge", "over the limit of 600 s"),
        ("truncated", "audio"),
    ],
)
def test_bad_sound_files_are_one_line(capsys, tmp_path, run_dir, kind, message):
    wav = tmp_path / "bad.wav"
    _write_bad(kind, wav)
    out = tmp_path / "out.vqz"
    started = time.perf_counter()
    err = _refused(capsys, ["compress", str(run_dir), str(wav), "-o", str(out)], out)
    assert message in err
    assert time.perf_counter() - started < 10


def test_a_missing_sound_file_is_one_line(capsys, tmp_path, run_dir):
    out = tmp_path / "out.vqz"
    _refused(capsys, ["compress", str(run_dir), str(tmp_path / "nope.wav"), "-o", str(out)], out)


def test_every_truncation_of_an_audio_file_is_a_format_error(codec):
    data = compress_audio(codec, speech_like(600))
    for n in range(len(data)):
        with pytest.raises(FormatError):
            decompress_audio(data[:n], codec)


def test_every_corrupted_byte_is_refused_or_decodes(codec):
    data = compress_audio(codec, speech_like(600))
    for i in range(len(data)):
        damaged = bytearray(data)
        damaged[i] ^= 0x41
        with pytest.raises(FormatError):  # the CRC catches every single-byte change
            decompress_audio(bytes(damaged), codec)


def test_an_audio_bomb_is_refused_from_its_header_at_once(codec):
    bomb = _audio_bomb(codec, 1 << 31)
    started = time.perf_counter()
    with pytest.raises(FormatError, match="over the limit of 600 s.*--max-seconds"):
        decompress_audio(bomb, codec)
    assert time.perf_counter() - started < 0.5


def test_a_payload_too_short_for_its_frames_is_refused_before_decoding(codec):
    bomb = _audio_bomb(codec, 4_000_000, payload=b"\x00" * 8)  # 500 s, 8 bytes
    started = time.perf_counter()
    with pytest.raises(FormatError, match="too short"):
        decompress_audio(bomb, codec)
    assert time.perf_counter() - started < 0.5


def test_more_stages_than_the_model_has_is_refused(codec):
    with pytest.raises(FormatError, match="stages"):
        decompress_audio(_audio_bomb(codec, 100, payload=b"\x00" * 64, stages=5), codec)


def test_cli_refuses_damaged_audio_files(capsys, tmp_path, run_dir, codec):
    data = compress_audio(codec, speech_like(600))
    out = tmp_path / "out.wav"
    for name, blob in [("cut.vqz", data[:-3]), ("bomb.vqz", _audio_bomb(codec, 1 << 31))]:
        path = tmp_path / name
        path.write_bytes(blob)
        _refused(capsys, ["decompress", str(path), "-o", str(out), "--model", str(run_dir)], out)


def test_cli_max_seconds_flag(capsys, tmp_path, run_dir, codec):
    vqz = tmp_path / "s.vqz"
    vqz.write_bytes(compress_audio(codec, speech_like(4000)))  # 0.5 s
    out = tmp_path / "out.wav"
    argv = ["decompress", str(vqz), "-o", str(out), "--model", str(run_dir)]
    assert "--max-seconds" in _refused(capsys, [*argv, "--max-seconds", "0.25"], out)
    assert main([*argv, "--max-seconds", "1"]) == 0 and out.is_file()


_FUZZ_CODEC = Codec(tiny_audio_model(seed=4), StageEntropyModel(np.ones((4, 16))))
_FUZZ_BASE = compress_audio(_FUZZ_CODEC, speech_like(300), stages=3)


@fuzz_settings(share=4)
@given(mutated(_FUZZ_BASE))
def test_fuzz_mutated_audio_streams_raise_format_error_or_decode(data):
    try:
        samples, rate = decompress_audio(data, _FUZZ_CODEC)
    except FormatError:
        return
    assert samples.dtype == np.float32 and rate == RATE  # an undetected change still decodes
    assert np.all(np.abs(samples) <= 1)
