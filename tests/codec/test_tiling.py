"""Tiled coding (``compress(..., tile=T)``): each tile coded exactly as the picture alone."""

import numpy as np
import pytest
import torch
from hypothesis import given
from PIL import Image
from test_codec import decodes_or_refuses, fuzz_settings, mutated, test_image, tiny_model

from vqvae import VQVAE, QuantizerConfig, VQVAEConfig
from vqvae.cli import main
from vqvae.codec import (
    Codec,
    StaticEntropyModel,
    compress,
    decompress,
    decompress_indices,
    read_header,
)
from vqvae.codec.tiling import tile_groups
from vqvae.errors import DataError

F = 4


def _codec(seed=0) -> Codec:
    """A tiny model whose codebook is k-means-initialised on latents of varied pictures."""
    model = tiny_model(1, seed=seed, f=F).train()
    with torch.no_grad():
        model(torch.stack([test_image(28, 28, 1, seed=s) for s in range(8)]).float() / 255)
    return Codec(model.eval(), StaticEntropyModel(np.arange(16) + 1))


def _pictures(n, size=28) -> list[torch.Tensor]:
    return [test_image(size, size, 1, seed=s) for s in range(n)]


def _mosaic(pictures, cols) -> torch.Tensor:
    rows = [torch.cat(pictures[i : i + cols], dim=2) for i in range(0, len(pictures), cols)]
    return torch.cat(rows, dim=1)


def _pixels(decoded: torch.Tensor) -> torch.Tensor:
    """A decoded (C, H, W) float image -> uint8, as ``decompress`` rounds it."""
    return decoded.clamp(0, 1).mul(255).round().to(torch.uint8)


@pytest.mark.parametrize("size, tile", [((61, 45), 28), ((28, 84), 28), ((9, 9), 4), ((64, 8), 8)])
def test_tile_boxes_cover_every_pixel_once_grouped_by_shape(size, tile):
    groups = tile_groups(*size, tile)
    cover = np.zeros(size, dtype=int)
    for shape, boxes in groups.items():
        for y0, y1, x0, x1 in boxes:
            assert (y1 - y0, x1 - x0) == shape and y0 % tile == 0 and x0 % tile == 0
            cover[y0:y1, x0:x1] += 1
    assert (cover == 1).all()
    assert next(iter(groups)) == (min(tile, size[0]), min(tile, size[1]))  # full tiles first


def test_a_mosaic_is_coded_as_its_pictures_alone():
    codec = _codec()
    pictures = _pictures(6)
    mosaic = _mosaic(pictures, 3)  # 56x84: 2 x 3 pictures
    data = compress(codec, mosaic, tile=28)
    header, indices = decompress_indices(data, codec)
    assert header.tile == 28 and header.version == 2 and header.code_shape == (14, 21)
    assert len(indices.unique()) > 4  # a model that tells the pictures' parts apart
    alone = [codec.model.encode(p[None].float() / 255)[0] for p in pictures]
    assert torch.equal(indices, _mosaic([a[None] for a in alone], 3)[0])
    expected = _mosaic([_pixels(codec.model.decode(a[None])[0]) for a in alone], 3)
    assert np.array_equal(np.asarray(decompress(data, codec)), expected[0].numpy())
    # the whole-image encoder reaches across the pictures' borders: other codes
    assert not torch.equal(codec.model.encode(mosaic[None].float() / 255)[0], indices)


def test_partial_edge_tiles_are_padded_like_a_small_image():
    codec = _codec(seed=1)
    x = test_image(61, 45, 1, seed=3)
    data = compress(codec, x, tile=28)
    header, indices = decompress_indices(data, codec)
    assert header.code_shape == (16, 12) and (header.pad_h, header.pad_w) == (3, 3)
    corner = codec.model.encode(x[None, :, 56:, 28:].float() / 255)[0]  # 5x17 -> 2x5 codes
    assert torch.equal(indices[14:, 7:], corner)
    top_left = codec.model.encode(x[None, :, :28, :28].float() / 255)[0]
    assert torch.equal(indices[:7, :7], top_left)
    image = decompress(data, codec)
    assert image.size == (45, 61)
    corner_pixels = _pixels(codec.model.decode(corner[None])[0])[0, :5, :17].numpy()
    assert np.array_equal(np.asarray(image)[56:, 28:], corner_pixels)


def test_a_tile_the_image_fits_in_writes_the_untiled_file():
    codec = _codec()
    x = test_image(28, 28, 1)
    plain = compress(codec, x)
    assert compress(codec, x, tile=28) == plain == compress(codec, x, tile=32)
    assert read_header(plain).version == 1 and read_header(plain).tile == 0


def test_rate_distortion_choice_and_multi_stage_models_tile_too():
    codec = _codec(seed=2)
    x = _mosaic(_pictures(4), 2)
    nearest = decompress_indices(compress(codec, x, tile=28), codec)[1]
    assert torch.equal(
        decompress_indices(compress(codec, x, tile=28, rd_lambda=0), codec)[1], nearest
    )
    smaller = compress(codec, x, tile=28, rd_lambda=1e9)
    assert len(smaller) <= len(compress(codec, x, tile=28))

    torch.manual_seed(0)
    config = VQVAEConfig(
        hidden_channels=8,
        res_channels=4,
        num_res_blocks=1,
        quantizer=QuantizerConfig(
            kind="rvq", codebook_size=16, code_dim=4, options={"num_stages": 2}
        ),
    )
    rvq = VQVAE(config).eval()
    _, indices = decompress_indices(compress(rvq, x, tile=28), rvq)
    alone = rvq.encode(x[None, :, :28, 28:].float() / 255)[0]  # (2, 7, 7)
    assert indices.shape == (2, 14, 14) and torch.equal(indices[:, :7, 7:], alone)
    assert np.asarray(decompress(compress(rvq, x, tile=28), rvq)).shape == (56, 56)


@pytest.mark.parametrize("tile", [6, 2, -4])
def test_a_tile_that_is_not_a_multiple_of_the_factor_is_refused(tile):
    with pytest.raises(DataError, match="multiple of the downsampling factor"):
        compress(_codec(), test_image(40, 40, 1), tile=tile)


def test_cli_tile_flag(tmp_path, capsys):
    path = tmp_path / "mosaic.png"
    Image.fromarray(_mosaic(_pictures(4), 2)[0].numpy()).save(path)
    out, png = tmp_path / "m.vqz", tmp_path / "m.png"
    assert main(["compress", str(path), "--tile", "28", "-o", str(out)]) == 0  # packaged model
    assert read_header(out.read_bytes()).tile == 28
    assert main(["decompress", str(out), "-o", str(png)]) == 0
    assert Image.open(png).size == (56, 56)
    capsys.readouterr()
    bad = tmp_path / "bad.vqz"
    assert main(["compress", str(path), "--tile", "30", "-o", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vqvae: error:") and "tile" in err and len(err.strip().splitlines()) == 1
    assert not bad.exists()


_FUZZ_CODEC = _codec(seed=4)
_FUZZ_TILED = compress(_FUZZ_CODEC, test_image(30, 21, 1), tile=12)


@fuzz_settings(share=4)
@given(mutated(_FUZZ_TILED))
def test_fuzz_mutated_tiled_streams_raise_format_error_or_decode(data):
    decodes_or_refuses(data, _FUZZ_CODEC)
