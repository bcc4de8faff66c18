"""compress / decompress: exact index round trips, bad streams, golden bitstreams, threads."""

import hashlib
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from vqvae import VQVAE, QuantizerConfig, VQVAEConfig
from vqvae.codec import (
    Codec,
    FormatError,
    StaticEntropyModel,
    compress,
    decompress,
    decompress_indices,
    information_bits,
    read_header,
)

GOLDEN = Path(__file__).parents[1] / "expected" / "codec_golden.json"
REGENERATE = os.environ.get("VQVAE_REGENERATE_GOLDEN") == "1"


def tiny_model(in_channels=1, seed=0, codebook_size=16, f=4) -> VQVAE:
    torch.manual_seed(seed)
    config = VQVAEConfig(
        in_channels=in_channels,
        hidden_channels=8,
        res_channels=4,
        num_res_blocks=1,
        downsample_factor=f,
        quantizer=QuantizerConfig(codebook_size=codebook_size, code_dim=4),
    )
    return VQVAE(config).eval()


def test_image(height, width, channels, seed=0) -> torch.Tensor:
    """A smooth deterministic uint8 test image (C, H, W) (no RNG: stable across versions)."""
    yy, xx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    planes = [((yy * (3 + c + seed) + xx * (5 + 2 * c)) % 256) for c in range(channels)]
    return torch.stack(planes).to(torch.uint8)


test_image.__test__ = False  # not a test


def static_for(model: VQVAE, images) -> StaticEntropyModel:
    k = model.quantizer.codebook_size
    counts = sum(
        torch.bincount(model.encode(x[None].float() / 255).flatten(), minlength=k) for x in images
    )
    return StaticEntropyModel(counts.numpy())


@pytest.fixture(scope="module")
def gray():
    model = tiny_model(1)
    images = [test_image(h, w, 1, s) for s, (h, w) in enumerate([(28, 28), (29, 31), (7, 64)])]
    return Codec(model, static_for(model, images)), images


@pytest.mark.parametrize("size", [(28, 28), (29, 31), (1, 1), (5, 3), (33, 64)])
def test_round_trip_is_exact_at_the_index_level(gray, size):
    codec, _ = gray
    x = test_image(*size, 1, seed=size[0])
    data = compress(codec, x)
    header, indices = decompress_indices(data, codec)
    expected = codec.model.encode(x[None].float() / 255)[0]
    assert torch.equal(indices, expected)
    assert (header.height, header.width, header.channels) == (*size, 1)
    assert header.code_shape == expected.shape
    img = decompress(data, codec)
    assert img.mode == "L" and img.size == (size[1], size[0])
    ref = codec.model.decode(expected[None])[0, :, : size[0], : size[1]]
    ref = ref.clamp(0, 1).mul(255).round().to(torch.uint8)[0].numpy()
    assert np.array_equal(np.asarray(img), ref)


def test_rgb_model_and_grayscale_input():
    model = tiny_model(3, seed=1)
    x = test_image(20, 27, 3)
    data = compress(model, Image.fromarray(x.permute(1, 2, 0).numpy()))
    img = decompress(data, model)
    assert img.mode == "RGB" and img.size == (27, 20)
    _, indices = decompress_indices(data, model)
    assert torch.equal(indices, model.encode(x[None].float() / 255)[0])
    g = compress(model, Image.fromarray(test_image(12, 12, 1)[0].numpy()))
    assert read_header(g).channels == 1 and decompress(g, model).mode == "L"


def test_rgb_image_for_a_grayscale_model_is_refused(gray):
    from vqvae.errors import DataError

    with pytest.raises(DataError, match="channel"):
        compress(gray[0], test_image(8, 8, 3))


def test_another_model_or_entropy_model_is_refused(gray):
    codec, images = gray
    data = compress(codec, images[0])
    with pytest.raises(FormatError, match="another model"):
        decompress(data, tiny_model(1, seed=5))
    other = StaticEntropyModel(np.arange(1, 17))
    with pytest.raises(FormatError, match="another 'static'"):
        decompress(data, Codec(codec.model, other))
    with pytest.raises(FormatError, match="not given"):
        decompress(data, codec.model)  # a bare VQVAE: only uniform streams decode without help
    uniform = compress(codec.model, images[0])
    assert read_header(uniform).entropy_name == "uniform"
    assert decompress(uniform, codec.model).size == decompress(uniform, codec).size == (28, 28)


def test_static_model_beats_uniform_and_payload_matches_information(gray):
    codec, images = gray
    x = test_image(120, 96, 1, seed=3)
    data = compress(codec, x)
    header, indices = decompress_indices(data, codec)
    ideal = information_bits(indices, codec.entropy_model)
    assert header.payload_length * 8 <= ideal * 1.01 + 64
    assert len(data) < len(compress(codec.model, x))


def _fix_crc(data: bytes) -> bytes:
    return data[:-4] + struct.pack("<I", zlib.crc32(data[:-4]))


@st.composite
def mutated(draw, base: bytes):
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete", "garbage"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        else:
            data = bytearray(draw(st.binary(max_size=80)))
    data = bytes(data)
    # half the time, make the checksum agree so the header and payload checks are reached
    if len(data) > 4 and draw(st.booleans()):
        data = _fix_crc(data)
    return data


_FUZZ_MODEL = tiny_model(1, seed=2)
_FUZZ_CODEC = Codec(_FUZZ_MODEL, StaticEntropyModel(np.arange(16) ** 2 + 1))
_FUZZ_BASE = compress(_FUZZ_CODEC, test_image(13, 22, 1))


def fuzz_settings(share: int = 1):
    """Hypothesis settings of the fuzz tests: 1/share of VQVAE_FUZZ_EXAMPLES (2000), seeded."""
    return settings(
        max_examples=int(os.environ.get("VQVAE_FUZZ_EXAMPLES", 2000)) // share,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )


def decodes_or_refuses(data: bytes, codec) -> None:
    """A mutated stream is a FormatError or still decodes to an image, never another error."""
    try:
        img = decompress(data, codec)
    except FormatError:
        return
    assert isinstance(img, Image.Image)  # an undetected change must still give an image


@fuzz_settings()
@given(mutated(_FUZZ_BASE))
def test_fuzz_mutated_streams_raise_format_error_or_decode(data):
    decodes_or_refuses(data, _FUZZ_CODEC)


def _golden_values() -> dict[str, str]:
    codec = Codec(tiny_model(1, seed=0), StaticEntropyModel(np.arange(1, 17) ** 2))
    gray = compress(codec, test_image(29, 31, 1))
    rgb = compress(tiny_model(3, seed=1, codebook_size=32, f=8), test_image(40, 24, 3))
    tiled = compress(codec, test_image(61, 45, 1), tile=28)  # format version 2
    return {
        "gray_static": hashlib.md5(gray).hexdigest(),
        "gray_static_tiled": hashlib.md5(tiled).hexdigest(),
        "rgb_uniform": hashlib.md5(rgb).hexdigest(),
    }


def test_golden_bitstreams():
    """Pins the format: set VQVAE_REGENERATE_GOLDEN=1 to rewrite (only on purpose)."""
    values = _golden_values()
    if REGENERATE:
        GOLDEN.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
    assert values == json.loads(GOLDEN.read_text())


def test_same_bytes_and_pixels_whatever_the_thread_count():
    model = tiny_model(3, seed=3)
    x = test_image(96, 80, 3, seed=1)
    threads = torch.get_num_threads()
    outputs = []
    try:
        for n in (1, 2, 4):
            torch.set_num_threads(n)
            data = compress(model, x)
            outputs.append((data, np.asarray(decompress(data, model)).tobytes()))
    finally:
        torch.set_num_threads(threads)
    assert outputs[0] == outputs[1] == outputs[2]


def test_fingerprint_ignores_training_only_statistics():
    from vqvae.codec import model_fingerprint

    model = tiny_model(1, seed=0)
    before = model_fingerprint(model)
    model.quantizer.recent_usage.fill_(7.0)  # dead-code detection only
    assert model_fingerprint(model) == before
    model.quantizer.cluster_size[0] += 1.0  # steers --rate-weight assignment: part of the model
    assert model_fingerprint(model) != before


@pytest.mark.parametrize(
    "kind, options, stages",
    [("rvq", {"num_stages": 3}, 3), ("grouped", {"groups": 2}, 2), ("fsq", {"levels": [4, 4]}, 1)],
)
def test_multi_stage_and_fsq_models_round_trip(kind, options, stages):
    torch.manual_seed(0)
    config = VQVAEConfig(
        in_channels=3,
        hidden_channels=8,
        res_channels=4,
        num_res_blocks=1,
        quantizer=QuantizerConfig(kind=kind, codebook_size=16, code_dim=4, options=options),
    )
    model = VQVAE(config).eval()
    image = test_image(22, 29, 3)
    expected = model.encode(image[None].float() / 255)[0]
    assert expected.shape == ((stages,) if stages > 1 else ()) + (6, 8)
    codec = Codec(model, static_for(model, [image, test_image(16, 16, 3, seed=1)]))
    data = compress(codec, image)
    header, indices = decompress_indices(data, codec)
    assert header.stages == stages
    assert torch.equal(indices, expected)
    pixels = np.asarray(decompress(data, codec))
    reference = model.decode(expected[None])[0, :, :22, :29].clamp(0, 1)
    reference = reference.mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(pixels, reference)
    assert (
        information_bits(indices.reshape(-1, indices.shape[-1]), codec.entropy_model)
        <= 8 * header.payload_length
    )


@pytest.mark.parametrize(
    "name, version, shape, indices_md5",
    [
        ("mnist_v1.vqz", 1, (7, 7), "d069735429d093e2538c50eb7b8cd0d1"),
        ("mnist_v2.vqz", 2, (56, 56), "fa20d86ca0caa6475ee7478499a9245f"),
    ],
)
def test_files_of_older_versions_keep_decoding(name, version, shape, indices_md5):
    """Files written before audio (version 3) existed: examples/digit.png and, tiled at 28,
    examples/sheet.png, coded with the shipped mnist model. Never regenerated."""
    data = (GOLDEN.parent / name).read_bytes()
    assert data[4] == version
    header, indices = decompress_indices(data, None)
    assert tuple(indices.shape) == shape
    assert hashlib.md5(indices.numpy().tobytes()).hexdigest() == indices_md5
    image = decompress(data, None)
    assert image.mode == "L" and image.size == (header.width, header.height)
