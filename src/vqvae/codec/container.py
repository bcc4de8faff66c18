"""The ``.vqz`` container: a small header, the range-coded payload, a CRC-32 trailer.

Layout (all integers little-endian; ``uvarint`` = LEB128, 1 byte below 128)::

    magic            4 bytes   b"\\x89VQZ"
    version          1 byte    1, 2 for a tiled image, 3 for audio (FORMAT_VERSION, the newest, is 3)
    model            8 bytes   sha256 prefix of the VQ-VAE's config + weights
    entropy name     1 byte n + n bytes ASCII (1 <= n <= 32), e.g. "static"
    entropy model    8 bytes   the entropy model's fingerprint
    width, height    uvarint, uvarint   original image size in pixels (>= 1)
    channels         1 byte    1 (grayscale, PIL "L") or 3 (RGB)
    downsample       1 byte    f of the model; code grid = (height + pad_h) / f x (width + pad_w) / f
    pad_h, pad_w     1 byte, 1 byte    rows / columns added at the bottom / right (< f)
    stages           1 byte    code maps in the payload, one after the other (S of rvq/grouped)
    tile             uvarint   version 2 only: side of the square tiles coded one by one, in
                               pixels (a multiple of f, smaller than the image)
    payload length   uvarint   bytes of payload (a multiple of 4: 32-bit range-coder words)
    payload          ...
    crc32            4 bytes   zlib.crc32 of every byte before it

Version 3 holds audio (``AudioHeader``): after the entropy model's fingerprint come
``modality`` (1 byte: 1 = a mono waveform, 2 = a mono waveform coded at a gain),
``sample rate``, ``samples`` and ``hop`` (uvarints) and ``stages`` (1 byte: the residual
stages kept); with modality 2 then ``gain`` (int16, units of 1/64 dB: what the encoder
multiplied the waveform by, and the decoder divides by), then the payload length as above.

See docs/format.md for the full description.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from ..errors import VQVAEError

MAGIC = b"\x89VQZ"
FORMAT_VERSION = 3  # the newest this build reads and writes: 1 and 2 are images, 3 audio
AUDIO_VERSION = 3
MODALITY_AUDIO = 1  # a version 3 file's modality byte: a mono waveform at its own level ...
MODALITY_AUDIO_GAIN = 2  # ... or coded at a gain (level normalisation), the gain stored
GAIN_UNIT = 64  # steps per dB of the stored gain (int16: +-512 dB)
MAX_GAIN_DB = 100.0
MAX_NAME = 32
MAX_SIDE = 1 << 20
MAX_PIXELS = 1 << 28  # 16k x 16k: a crafted header cannot make the decoder allocate more
MIN_RATE, MAX_RATE = 1_000, 384_000  # sample rates in Hz
MAX_SAMPLES = 1 << 31  # the format's own bound on an audio file's length
MAX_HOP = 1 << 16  # samples per code frame
MAX_STAGES = 16


class FormatError(VQVAEError):
    """A ``.vqz`` stream that cannot be decoded: damaged, foreign, or for another model."""


@dataclass(frozen=True)
class Header:
    """Everything a decoder needs besides the models themselves.

    Attributes:
        model_fingerprint: 8 bytes, hash of the VQ-VAE's config and weights.
        entropy_name: name of the entropy model that coded the payload.
        entropy_fingerprint: 8 bytes identifying that entropy model's tables.
        width, height: the original image size.
        channels: 1 or 3.
        downsample_factor: the model's f.
        pad_h, pad_w: padding added at the bottom / right before encoding.
        stages: number of code maps (1 for single-stage quantizers).
        payload_length: bytes of payload.
        tile: side of the square tiles the VQ-VAE coded one by one (0: the whole image).
            A tiled file is version 2; an untiled one version 1, byte for byte as before.
    """

    model_fingerprint: bytes
    entropy_name: str
    entropy_fingerprint: bytes
    width: int
    height: int
    channels: int
    downsample_factor: int
    pad_h: int
    pad_w: int
    stages: int = 1
    payload_length: int = 0
    tile: int = 0

    modality = "image"

    @property
    def version(self) -> int:
        """1 for a whole-image file, 2 for a tiled one."""
        return 2 if self.tile else 1

    @property
    def code_shape(self) -> tuple[int, int]:
        """(H', W') of each code map."""
        f = self.downsample_factor
        return ((self.height + self.pad_h) // f, (self.width + self.pad_w) // f)

    def validate(self) -> None:
        if len(self.model_fingerprint) != 8 or len(self.entropy_fingerprint) != 8:
            raise FormatError("fingerprints must be 8 bytes")
        name = self.entropy_name.encode("ascii", "replace")
        if not 1 <= len(name) <= MAX_NAME or not self.entropy_name.isascii():
            raise FormatError(f"bad entropy model name {self.entropy_name!r}")
        if not (1 <= self.width <= MAX_SIDE and 1 <= self.height <= MAX_SIDE) or (
            self.width * self.height > MAX_PIXELS
        ):
            raise FormatError(f"bad image size {self.width}x{self.height}")
        if self.channels not in (1, 3):
            raise FormatError(f"bad channel count {self.channels}")
        f = self.downsample_factor
        if not 1 <= f <= 64:
            raise FormatError(f"bad downsample factor {f}")
        if not (0 <= self.pad_h < f and 0 <= self.pad_w < f):
            raise FormatError(f"bad padding {self.pad_h}, {self.pad_w} for factor {f}")
        if (self.height + self.pad_h) % f or (self.width + self.pad_w) % f:
            raise FormatError("padded size is not a multiple of the downsample factor")
        if not 1 <= self.stages <= 16:
            raise FormatError(f"bad stage count {self.stages}")
        if self.tile and (
            self.tile % f or self.tile > MAX_SIDE or max(self.width, self.height) <= self.tile
        ):
            raise FormatError(f"bad tile size {self.tile} for a {self.width}x{self.height} image")
        if self.payload_length < 0 or self.payload_length % 4:
            raise FormatError(f"bad payload length {self.payload_length}")


def _check_common(header) -> None:
    if len(header.model_fingerprint) != 8 or len(header.entropy_fingerprint) != 8:
        raise FormatError("fingerprints must be 8 bytes")
    name = header.entropy_name.encode("ascii", "replace")
    if not 1 <= len(name) <= MAX_NAME or not header.entropy_name.isascii():
        raise FormatError(f"bad entropy model name {header.entropy_name!r}")
    if not 1 <= header.stages <= MAX_STAGES:
        raise FormatError(f"bad stage count {header.stages}")
    if header.payload_length < 0 or header.payload_length % 4:
        raise FormatError(f"bad payload length {header.payload_length}")


@dataclass(frozen=True)
class AudioHeader:
    """The header of an audio file (format version 3): a mono waveform's residual codes.

    Attributes:
        model_fingerprint: 8 bytes, hash of the VQ-VAE's config and weights.
        entropy_name: name of the entropy model that coded the payload.
        entropy_fingerprint: 8 bytes identifying that entropy model's tables.
        sample_rate: the model's rate in Hz (the decoded file's rate).
        samples: the waveform's length in samples, at ``sample_rate``.
        hop_length: samples per code frame (the model's total stride).
        stages: residual stages kept (the first ``stages`` of the model's; ``--bitrate``).
        payload_length: bytes of payload.
        gain_db: the gain (dB, a multiple of 1/64) the waveform was coded at: the decoder
            divides the decoded waveform by it. 0: coded at its own level (modality byte 1,
            byte for byte as files without a gain).
    """

    model_fingerprint: bytes
    entropy_name: str
    entropy_fingerprint: bytes
    sample_rate: int
    samples: int
    hop_length: int
    stages: int = 1
    payload_length: int = 0
    gain_db: float = 0.0

    version = AUDIO_VERSION
    modality = "audio"

    @property
    def frames(self) -> int:
        """Code frames: ceil(samples / hop_length)."""
        return -(-self.samples // self.hop_length)

    @property
    def code_shape(self) -> tuple[int, int]:
        """(stages, frames): the map the payload codes, stage s in row s."""
        return (self.stages, self.frames)

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate

    def validate(self) -> None:
        _check_common(self)
        if not MIN_RATE <= self.sample_rate <= MAX_RATE:
            raise FormatError(f"bad sample rate {self.sample_rate}")
        if not 1 <= self.samples <= MAX_SAMPLES:
            raise FormatError(f"bad audio length {self.samples} samples")
        if not 1 <= self.hop_length <= MAX_HOP:
            raise FormatError(f"bad hop length {self.hop_length}")
        steps = self.gain_db * GAIN_UNIT
        if not (abs(self.gain_db) <= MAX_GAIN_DB and steps == round(steps)):
            raise FormatError(f"bad gain {self.gain_db} dB")


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise FormatError("truncated header")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def byte(self) -> int:
        return self.take(1)[0]

    def uvarint(self) -> int:
        value = 0
        for shift in range(0, 35, 7):  # at most 5 bytes: sizes here stay far below 2**32
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
        raise FormatError("overlong integer in header")


def write(header: Header | AudioHeader, payload: bytes) -> bytes:
    """Serialise ``header`` + ``payload`` (+ CRC-32); ``header.payload_length`` is set here."""
    header = type(header)(**{**header.__dict__, "payload_length": len(payload)})
    header.validate()
    name = header.entropy_name.encode("ascii")
    common = [
        MAGIC,
        bytes([header.version]),
        header.model_fingerprint,
        bytes([len(name)]),
        name,
        header.entropy_fingerprint,
    ]
    if isinstance(header, AudioHeader):
        gain = round(header.gain_db * GAIN_UNIT)
        head = b"".join(
            common
            + [
                bytes([MODALITY_AUDIO_GAIN if gain else MODALITY_AUDIO]),
                _uvarint(header.sample_rate),
                _uvarint(header.samples),
                _uvarint(header.hop_length),
                bytes([header.stages]),
                struct.pack("<h", gain) if gain else b"",
                _uvarint(len(payload)),
            ]
        )
        body = head + payload
        return body + struct.pack("<I", zlib.crc32(body))
    head = b"".join(
        common
        + [
            _uvarint(header.width),
            _uvarint(header.height),
            bytes([header.channels, header.downsample_factor, header.pad_h, header.pad_w]),
            bytes([header.stages]),
            _uvarint(header.tile) if header.tile else b"",
            _uvarint(len(payload)),
        ]
    )
    body = head + payload
    return body + struct.pack("<I", zlib.crc32(body))


def parse(data: bytes) -> tuple[Header | AudioHeader, bytes]:
    """Split a stream into its header and payload, checking magic, version, sizes and CRC.

    Returns:
        (header, payload): a ``Header`` for an image (versions 1 and 2), an ``AudioHeader``
        for audio (version 3).

    Raises:
        FormatError: anything wrong with the stream, with a one-line reason.
    """
    data = bytes(data)
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise FormatError("not a .vqz file (bad magic bytes)")
    r = _Reader(data)
    r.take(len(MAGIC))
    version = r.byte()
    if version not in (1, 2, AUDIO_VERSION):
        raise FormatError(
            f"unsupported .vqz format version {version} (this build reads 1 to {FORMAT_VERSION})"
        )
    model_fp = r.take(8)
    name_bytes = r.take(r.byte())
    entropy_fp = r.take(8)
    if version == AUDIO_VERSION:
        modality = r.byte()
        if modality not in (MODALITY_AUDIO, MODALITY_AUDIO_GAIN):
            raise FormatError(f"unknown modality {modality} in a version 3 file")
        audio = (r.uvarint(), r.uvarint(), r.uvarint(), r.byte())
        gain = struct.unpack("<h", r.take(2))[0] if modality == MODALITY_AUDIO_GAIN else 0
        if modality == MODALITY_AUDIO_GAIN and gain == 0:
            raise FormatError("a zero gain in a file whose modality byte says it has one")
    else:
        width, height = r.uvarint(), r.uvarint()
        channels, factor, pad_h, pad_w, stages = r.take(5)
        tile = r.uvarint() if version == 2 else 0
        if version == 2 and tile == 0:
            raise FormatError("a version 2 file must name its tile size")
    length = r.uvarint()
    if r.pos + length + 4 != len(data):
        if r.pos + length + 4 > len(data):
            raise FormatError("truncated stream (payload or checksum missing)")
        raise FormatError("trailing bytes after the checksum")
    payload = data[r.pos : r.pos + length]
    (crc,) = struct.unpack("<I", data[-4:])
    if zlib.crc32(data[:-4]) != crc:
        raise FormatError("checksum mismatch: the file is damaged")
    try:
        name = name_bytes.decode("ascii")
    except UnicodeDecodeError:
        raise FormatError("bad entropy model name") from None
    if version == AUDIO_VERSION:
        sample_rate, samples, hop, stages = audio
        audio_header = AudioHeader(
            model_fingerprint=model_fp,
            entropy_name=name,
            entropy_fingerprint=entropy_fp,
            sample_rate=sample_rate,
            samples=samples,
            hop_length=hop,
            stages=stages,
            payload_length=length,
            gain_db=gain / GAIN_UNIT,
        )
        audio_header.validate()
        return audio_header, payload
    header = Header(
        model_fingerprint=model_fp,
        entropy_name=name,
        entropy_fingerprint=entropy_fp,
        width=width,
        height=height,
        channels=channels,
        downsample_factor=factor,
        pad_h=pad_h,
        pad_w=pad_w,
        stages=stages,
        payload_length=length,
        tile=tile,
    )
    header.validate()
    return header, payload
