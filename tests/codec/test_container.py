"""The .vqz container: parse(write(header)) == header, and every damage is a FormatError."""

import struct
import zlib

import pytest

from vqvae.codec import container
from vqvae.codec.container import AudioHeader, FormatError, Header

HEADER = Header(
    model_fingerprint=bytes(range(8)),
    entropy_name="static",
    entropy_fingerprint=bytes(range(8, 16)),
    width=300,
    height=29,
    channels=3,
    downsample_factor=4,
    pad_h=3,
    pad_w=0,
)
PAYLOAD = bytes(range(40))


def _refresh_crc(data: bytes) -> bytes:
    return data[:-4] + struct.pack("<I", zlib.crc32(data[:-4]))


def test_parse_inverts_write():
    data = container.write(HEADER, PAYLOAD)
    header, payload = container.parse(data)
    assert payload == PAYLOAD
    assert header == Header(**{**HEADER.__dict__, "payload_length": len(PAYLOAD)})
    assert header.code_shape == (8, 75)
    assert data[:4] == b"\x89VQZ" and data[4] == 1
    assert len(data) == 4 + 1 + 8 + 7 + 8 + 2 + 1 + 5 + 1 + len(PAYLOAD) + 4


def test_a_tiled_header_is_version_2_with_one_more_field():
    tiled = Header(**{**HEADER.__dict__, "tile": 28})
    data = container.write(tiled, PAYLOAD)
    header, payload = container.parse(data)
    assert payload == PAYLOAD and header.tile == 28 and header.version == 2
    assert data[4] == 2
    assert len(data) == len(container.write(HEADER, PAYLOAD)) + 1  # uvarint 28: one byte


def test_a_version_2_file_without_a_tile_is_refused():
    data = bytearray(container.write(Header(**{**HEADER.__dict__, "tile": 28}), PAYLOAD))
    at = 4 + 1 + 8 + 7 + 8 + 2 + 1 + 5  # magic .. stages; then the tile
    assert data[at] == 28
    data[at] = 0
    with pytest.raises(FormatError, match="tile size"):
        container.parse(_refresh_crc(bytes(data)))


def test_header_of_a_small_image_is_small():
    small = Header(**{**HEADER.__dict__, "width": 28, "height": 28, "pad_h": 0, "channels": 1})
    assert len(container.write(small, b"")) == 40


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: d[:-1], "truncated"),
        (lambda d: d[:12], "truncated header"),
        (lambda d: b"", "magic"),
        (lambda d: b"GIF89a" + d[6:], "magic"),
        (lambda d: d + b"\x00", "trailing"),
        (lambda d: d[:30] + bytes([d[30] ^ 0x10]) + d[31:], "checksum"),
        (lambda d: _refresh_crc(d[:4] + b"\x04" + d[5:]), "version 4"),
    ],
)
def test_damage_is_a_format_error(damage, message):
    data = container.write(HEADER, PAYLOAD)
    with pytest.raises(FormatError, match=message):
        container.parse(damage(data))


@pytest.mark.parametrize(
    "change",
    [
        {"channels": 2},
        {"pad_h": 4},
        {"pad_h": 0},  # 29 rows are not a multiple of 4
        {"width": 0},
        {"width": 1 << 20, "height": 1 << 10, "pad_h": 0},  # over MAX_PIXELS
        {"downsample_factor": 0},
        {"entropy_name": ""},
        {"entropy_name": "x" * 33},
        {"stages": 0},
        {"tile": 6},  # not a multiple of 4
        {"tile": 300},  # the whole image: tiling would change nothing, so it is not written
        {"tile": 1 << 21},
    ],
)
def test_inconsistent_headers_are_refused(change):
    with pytest.raises(FormatError):
        container.write(Header(**{**HEADER.__dict__, **change}), PAYLOAD)


def test_format_error_is_a_value_error_and_a_user_error():
    from vqvae.errors import VQVAEError

    assert issubclass(FormatError, ValueError) and issubclass(FormatError, VQVAEError)


AUDIO = AudioHeader(
    model_fingerprint=bytes(range(8)),
    entropy_name="stages",
    entropy_fingerprint=bytes(range(8, 16)),
    sample_rate=8000,
    samples=80_000,
    hop_length=160,
    stages=3,
)


def test_audio_header_is_version_3():
    data = container.write(AUDIO, PAYLOAD)
    header, payload = container.parse(data)
    assert payload == PAYLOAD and data[4] == 3
    assert header == AudioHeader(**{**AUDIO.__dict__, "payload_length": len(PAYLOAD)})
    assert header.code_shape == (3, 500) and header.seconds == 10.0
    assert header.modality == "audio" and HEADER.modality == "image"
    name = len("stages")
    # magic, version, model, name, entropy fp, modality, rate (2), samples (3), hop (2), stages,
    # payload length, payload, crc
    assert len(data) == 4 + 1 + 8 + 1 + name + 8 + 1 + 2 + 3 + 2 + 1 + 1 + len(PAYLOAD) + 4


def test_audio_frames_round_up():
    assert AudioHeader(**{**AUDIO.__dict__, "samples": 161}).code_shape == (3, 2)
    assert AudioHeader(**{**AUDIO.__dict__, "samples": 1}).frames == 1


@pytest.mark.parametrize(
    "change",
    [
        {"sample_rate": 999},
        {"sample_rate": 384_001},
        {"samples": 0},
        {"samples": (1 << 31) + 1},
        {"hop_length": 0},
        {"hop_length": (1 << 16) + 1},
        {"stages": 0},
        {"stages": 17},
        {"entropy_name": ""},
        {"model_fingerprint": b"short"},
    ],
)
def test_inconsistent_audio_headers_are_refused(change):
    with pytest.raises(FormatError):
        container.write(AudioHeader(**{**AUDIO.__dict__, **change}), PAYLOAD)


def test_unknown_modality_is_refused():
    data = bytearray(container.write(AUDIO, PAYLOAD))
    at = 4 + 1 + 8 + 1 + len("stages") + 8
    assert data[at] == 1
    data[at] = 3  # 1: a waveform, 2: a waveform with a gain; nothing else yet
    with pytest.raises(FormatError, match="modality"):
        container.parse(_refresh_crc(bytes(data)))


def test_every_truncation_of_an_audio_file_is_a_format_error():
    data = container.write(AUDIO, PAYLOAD)
    for n in range(len(data)):
        with pytest.raises(FormatError):
            container.parse(data[:n])
