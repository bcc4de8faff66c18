"""Large images in bounded memory: bands of pixels and of codes give the whole image's codes,
tables, bytes and pixels; memory stays that of a band; a forged huge header costs little."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from test_codec import test_image, tiny_model

from vqvae.codec import (
    Codec,
    FormatError,
    check_consistency,
    compress,
    container,
    decompress,
    decompress_indices,
    encode_indices,
    load,
    tiling,
)
from vqvae.codec.container import Header
from vqvae.entropy import tables
from vqvae.priors.context import ContextConfig, ContextModel, group_map
from vqvae.priors.context_entropy import ContextEntropyModel

K = 16
SRC = str(Path(__file__).parents[2] / "src")


def _codec(seed=0, levels=1, channels=8) -> Codec:
    """A tiny model whose codebook is k-means-initialised (varied codes), with a context model."""
    model = tiny_model(3, seed=seed, codebook_size=K).train()
    with torch.no_grad():
        model(torch.stack([_photo(32, 32, seed=s) for s in range(8)]).float() / 255)
    model.eval()
    torch.manual_seed(seed)
    config = ContextConfig(codebook_size=K, embed_dim=4, channels=channels, layers=2, levels=levels)
    return Codec(model, ContextEntropyModel(ContextModel(config).eval()))


def _photo(height, width, seed=0) -> torch.Tensor:
    """Smooth gradients plus noise (varied codes), uint8 (3, H, W)."""
    rng = np.random.default_rng(seed)
    noise = torch.from_numpy(rng.integers(0, 64, (3, height, width), dtype=np.uint8))
    return test_image(height, width, 3, seed) // 2 + noise


@pytest.fixture
def small_bands(monkeypatch):
    """Bands of a few thousand pixels and table chunks of a few hundred entries: a small
    image takes every banded path (pixels, codes, tables) many times over."""
    monkeypatch.setattr(tiling, "BAND_PIXELS", 3000)
    monkeypatch.setattr(tables, "TABLE_ELEMENTS", 24 * K)


@pytest.mark.parametrize("levels", [1, 2])
def test_bands_give_the_whole_images_codes_and_a_consistent_stream(monkeypatch, levels):
    codec = _codec(levels=levels)
    image = _photo(157, 203)  # odd sizes: padding in the last band and column
    whole_codes = encode_indices(codec, image)
    monkeypatch.setattr(tiling, "BAND_PIXELS", 3000)
    monkeypatch.setattr(tables, "TABLE_ELEMENTS", 24 * K)
    assert len(torch.unique(whole_codes)) > 4
    assert len(codec.entropy_model.bands(tuple(whole_codes.shape))) > 4
    assert torch.equal(encode_indices(codec, image), whole_codes)
    check_consistency(codec.entropy_model, whole_codes, _codec(levels=levels).entropy_model)
    assert torch.equal(decompress_indices(compress(codec, image), codec)[1], whole_codes)


def test_the_shipped_photo_models_tables_in_bands_are_its_whole_map_tables(monkeypatch):
    """So a file it wrote before bands existed decodes, and a map of one band keeps its bytes:
    each band with its halo gives the whole map's arithmetic at these sizes."""
    network = load("photo").entropy_model.model
    codes = torch.from_numpy(np.random.default_rng(0).integers(0, 512, (60, 96)))
    whole_order, whole = tables.tables_for(ContextEntropyModel(network), codes)
    monkeypatch.setattr(tables, "TABLE_ELEMENTS", 48 * 512)
    banded = ContextEntropyModel(network)
    assert len(banded.bands(tuple(codes.shape))) == 8
    order, freqs = tables.tables_for(banded, codes)
    assert np.array_equal(order, whole_order) and np.array_equal(freqs, whole)


def test_a_multi_band_image_round_trips_exactly(small_bands):
    codec = _codec(seed=1)
    image = _photo(211, 96, seed=1)
    codes = encode_indices(codec, image)
    data = compress(codec, image)
    header, decoded = decompress_indices(data, codec)
    assert torch.equal(decoded, codes)
    pixels = np.asarray(decompress(data, codec))
    expected = codec.model.decode(codes[None])[0, :, :211, :96].clamp(0, 1)
    expected = expected.mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(pixels, expected)


def test_context_bands_overlap_by_the_networks_reach_and_cover_the_map():
    model = _codec().entropy_model
    assert model.halo == 4  # 1 + 2 layers of 3x3 convolutions, rounded up to 2
    shape = (300, 50)
    assert model.bands(shape) == [(0, 300)]  # fits: passed whole, as before bands existed
    codes = torch.from_numpy(np.random.default_rng(0).integers(0, K, shape))
    before = tables.TABLE_ELEMENTS
    try:
        tables.TABLE_ELEMENTS = 32 * K
        bands = model.bands(shape)
        assert all(
            a[1] == b[0] and b[0] % 2 == 0 for a, b in zip(bands[:-1], bands[1:], strict=True)
        )
        assert bands[0][0] == 0 and bands[-1][1] == 300 and len(bands) > 10
        blocks = model.schedule(shape)
        assert len(blocks) == len(model.block_levels(shape))
        groups = group_map(*shape).view(-1).numpy()  # the same order: group by group, raster
        expected = np.concatenate([np.flatnonzero(groups == g) for g in range(4)])
        assert np.array_equal(np.concatenate(blocks), expected)
        check_consistency(model, codes, ContextEntropyModel(model.model))
    finally:
        tables.TABLE_ELEMENTS = before


def test_a_forged_header_claiming_a_huge_image_is_refused_in_bounded_time_and_memory(tmp_path):
    codec = _codec(channels=64)  # a pass over the whole 2000 x 2000 map: 1 GB an activation
    data = compress(codec, _photo(64, 64))
    header, _ = container.parse(data)
    assert isinstance(header, Header)
    payload = np.random.default_rng(0).integers(0, 256, 6000, dtype=np.uint8).tobytes()
    forged = container.write(  # 64 megapixels, within the default limit, in a 6 KB file
        Header(**{**header.__dict__, "width": 8000, "height": 8000}), payload
    )
    result = _in_subprocess(
        tmp_path,
        codec,
        """
        from vqvae.codec import FormatError, decompress
        data = open(sys.argv[2], "rb").read()
        try:
            decompress(data, codec)
            outcome = "decoded"
        except FormatError as exc:
            outcome = str(exc)
        """,
        forged,
    )
    assert result["outcome"] != "decoded"
    assert result["grew_mb"] < 150, result
    assert result["seconds"] < 20
    with pytest.raises(FormatError):
        decompress(forged, codec)


def test_peak_memory_of_a_large_image_is_that_of_a_band(tmp_path):
    """12 megapixels on a tiny model: whole, the floats of the image, the decoder's output
    and its activations took over 700 MB; in bands the process grows by < 350 MB."""
    result = _in_subprocess(
        tmp_path,
        _codec(),
        """
        from vqvae.codec import compress, decompress
        rng = np.random.default_rng(0)
        image = torch.from_numpy(rng.integers(0, 256, (3, 3000, 4000), dtype=np.uint8))
        before = peak_mb()
        data = compress(codec, image)
        decoded = decompress(data, codec)
        outcome = f"{decoded.size}"
        del decoded, image
        """,
    )
    assert result["outcome"] == "(4000, 3000)"
    assert result["grew_mb"] < 350, result  # whole: over 700 MB


def _in_subprocess(tmp_path, codec, body: str, data: bytes = b"") -> dict:
    """Run ``body`` in a fresh interpreter with ``codec`` loaded; returns its outcome, how
    much its peak RSS grew past the start (MB, ``ru_maxrss``) and its time."""
    torch.save(
        {
            "model": codec.model,
            "context": codec.entropy_model.model,
        },
        tmp_path / "codec.pt",
    )
    (tmp_path / "input.vqz").write_bytes(data)
    script = (
        textwrap.dedent(
            """
        import json, resource, sys, time
        import numpy as np, torch
        from vqvae.codec import Codec
        from vqvae.priors.context_entropy import ContextEntropyModel

        def peak_mb():
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        saved = torch.load(sys.argv[1], weights_only=False)
        codec = Codec(saved["model"], ContextEntropyModel(saved["context"]))
        before = peak_mb()
        started = time.perf_counter()
        """
        )
        + textwrap.dedent(body)
        + textwrap.dedent(
            """
        print(json.dumps({"outcome": outcome, "grew_mb": peak_mb() - before,
                          "seconds": time.perf_counter() - started}))
        """
        )
    )
    env = {**os.environ, "PYTHONPATH": SRC, "VQVAE_QUIET": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "codec.pt"), str(tmp_path / "input.vqz")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
