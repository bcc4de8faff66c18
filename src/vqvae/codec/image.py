"""Images to ``.vqz`` bytes and back.

::

    image (H, W, C) --pad to a multiple of f (edge)--> encoder -> quantizer -> indices (H', W')
        [multi-stage quantizers: (S, H', W'), stacked into an (S * H', W') map]
        --entropy model tables + range coder--> payload --container--> header | payload | crc32

    bytes --stream.read_stream (magic, version, crc, model fingerprint, entropy model)-->
        indices --decoder--> crop to (H, W) -> image

Round trips are exact at the index level; pixels are the model's reconstruction. Large
images are encoded in bands and tiles (``tiling``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ..errors import DataError
from ..limits import MAX_PIXELS, check_max_pixels, check_pixels
from ..media.image import infer_channels, load_image, pixels_chw, to_8bit
from ..models import VQVAE
from . import container, entropy, tiling
from .container import Header
from .entropy import EntropyModel
from .loading import model_fingerprint, resolve
from .rdo import choose_codes
from .stream import read_stream


def _image_to_uint8(image, max_pixels: int | None = None) -> torch.Tensor:
    """PIL image / path / (C, H, W) tensor / (H, W[, C]) array -> uint8 (C, H, W), C in (1, 3).

    An image over ``max_pixels`` is a DataError (a file's size is read from its header).
    """
    check_max_pixels(max_pixels)
    if isinstance(image, (str, os.PathLike)):
        return load_image(image, max_pixels=max_pixels)
    size = getattr(image, "size", None) if isinstance(image, Image.Image) else None
    if size is None and isinstance(image, (np.ndarray, torch.Tensor)) and image.ndim >= 2:
        dims = image.shape[-2:] if isinstance(image, torch.Tensor) else image.shape[:2]
        size = (int(dims[1]), int(dims[0]))
    if size is not None:
        check_pixels(*size, max_pixels, "the image", DataError)
    if isinstance(image, Image.Image):
        return torch.from_numpy(pixels_chw(to_8bit(image, infer_channels(image.mode))))
    if isinstance(image, np.ndarray):
        a = image[:, :, None] if image.ndim == 2 else image
        image = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)
    if isinstance(image, torch.Tensor):
        x = image.detach().cpu()
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3 or x.shape[0] not in (1, 3):
            raise DataError(
                f"expected an image tensor (C, H, W) with C 1 or 3, got {tuple(x.shape)}"
            )
        if x.dtype != torch.uint8:
            x = x.float().clamp(0, 1).mul(255).round().to(torch.uint8)
        return x.contiguous()
    raise TypeError(f"cannot compress a {type(image).__name__}")


def compress_image(
    model,
    image,
    entropy_model: EntropyModel | None = None,
    rd_lambda: float | None = None,
    tile: int | None = None,
    max_pixels: int | None = MAX_PIXELS,
) -> bytes:
    """Compress one image into ``.vqz`` bytes.

    Args:
        model: a ``VQVAE`` (coded with ``entropy_model``, or uniform codes if None), a
            ``Codec``, a run-dir path, or None for the packaged MNIST model.
        image: a PIL image, an image file path, a (C, H, W) tensor (uint8, or float in
            [0, 1]) or an (H, W[, C]) uint8 array; any size, grayscale or RGB. A grayscale
            image given to an RGB model is coded as RGB and decoded back to grayscale.
        entropy_model: overrides the codec's own probability model.
        rd_lambda: choose codes by rate-distortion (``codec.rdo``: latent squared distance
            + rd_lambda * bits under the coder's tables, in coding order) instead of the
            model's own codes; larger = smaller files. Single-codebook quantizers (vq, ema,
            cosine). None: the codes ``model.encode`` gives (its saved assignment rule, e.g.
            a ``--rate-prior`` run's); 0: the nearest codes.
        tile: code the image as independent square tiles of this side (pixels, a multiple
            of the model's factor; ``codec.tiling``), e.g. a mosaic of 28x28 digits at 28.
            None or 0: the whole image at once.
        max_pixels: refuse an image larger than this many pixels (default
            ``vqvae.limits.MAX_PIXELS``, 64 megapixels; a file's size is read from its header
            before its pixels are decoded); None: no limit.

    Returns:
        The file's bytes (header, range-coded indices, CRC-32).

    Raises:
        DataError: an RGB image for a grayscale model, a size an MLP model cannot take, a
            tile that is not a multiple of the model's factor, or an image over ``max_pixels``.
    """
    image = _image_to_uint8(image, max_pixels)  # the size check, before any pixel is decoded
    chosen = _choose(model, image, entropy_model, rd_lambda, tile)
    del image  # a large image's pixels are not needed by the entropy coder: free them first
    model, entropy_model, indices = chosen.model, chosen.entropy_model, chosen.indices
    stages = model.quantizer.num_stages
    if stages > 1 and entropy_model.name == "prior":
        raise ValueError(
            f"the prior models single-stage code maps, this model has {stages} stages; "
            "use --entropy-model static"
        )
    channels, height, width = chosen.image_shape
    f = model.downsample_factor
    header = Header(
        model_fingerprint=model_fingerprint(model),
        entropy_name=entropy_model.name,
        entropy_fingerprint=entropy_model.fingerprint(),
        width=width,
        height=height,
        channels=channels,
        downsample_factor=f,
        pad_h=(-height) % f,
        pad_w=(-width) % f,
        stages=stages,
        tile=chosen.tile,
    )
    return container.write(header, entropy.encode(stack_stages(indices), entropy_model))


def encode_indices(
    model,
    image,
    entropy_model: EntropyModel | None = None,
    rd_lambda: float | None = None,
    tile: int | None = None,
    max_pixels: int | None = MAX_PIXELS,
) -> torch.Tensor:
    """The code map ``compress`` (same arguments) writes for ``image``: ([S,] H', W') int64."""
    image = _image_to_uint8(image, max_pixels)
    return _choose(model, image, entropy_model, rd_lambda, tile).indices


@dataclass
class _Choice:
    model: VQVAE
    entropy_model: EntropyModel
    indices: torch.Tensor
    image_shape: tuple[int, int, int]  # (C, H, W) as given
    tile: int


def _choose(model, image, entropy_model, rd_lambda, tile) -> _Choice:
    """Resolve the codec, check the image and choose its code map (``compress``'s first half)."""
    model, entropy_model = resolve(model, entropy_model)
    f = model.downsample_factor
    if tile:
        tiling.check_tile(tile, f)
    if entropy_model is None:
        entropy_model = entropy.UniformEntropyModel(model.quantizer.codebook_size)
    x = _image_to_uint8(image)  # (C, H, W)
    channels, height, width = x.shape
    if channels != model.config.in_channels:
        if channels == 1 and model.config.in_channels == 3:
            x = x.expand(3, -1, -1)
        else:
            raise DataError(
                f"image has {channels} channel(s), the model expects {model.config.in_channels}"
            )
    if entropy_model.num_symbols != model.quantizer.codebook_size:
        raise ValueError(
            f"entropy model has {entropy_model.num_symbols} symbols, the codebook "
            f"{model.quantizer.codebook_size}"
        )
    device = next(model.parameters()).device
    if rd_lambda is not None and not hasattr(model.quantizer, "code_distances"):
        raise DataError(
            f"rate-distortion code choice needs a single-codebook quantizer (vq, ema, cosine), "
            f"this model has {model.config.quantizer.kind}"
        )
    tile = tiling.effective_tile(tile, height, width)

    def on_tiles(fn):  # fn: images (B, C, h, w) -> (B, ..., h', w'); the map of the image
        if tile:  # uint8 pixels become floats a batch of tiles at a time
            return tiling.encode_tiles(fn, x, tile, f, lambda t: t.float().div(255).to(device))
        return tiling.encode_bands(fn, x, f, model.encoder, device=device)  # large: in bands

    def distances(batch):  # (B, C, h, w) -> (B, K, h', w')
        return model.quantizer.code_distances(model.encode_latents(batch)).permute(0, 3, 1, 2)

    try:
        with torch.no_grad():
            if rd_lambda is None:
                indices = on_tiles(model.encode).cpu()  # ([S,] H', W')
            else:
                dist = on_tiles(distances).permute(1, 2, 0).cpu()  # (H', W', K)
                indices = choose_codes(dist, entropy_model, rd_lambda)
    except ValueError as exc:  # e.g. an MLP model given another size
        raise DataError(str(exc)) from None
    return _Choice(model, entropy_model, indices, (channels, height, width), tile)


def stack_stages(indices: torch.Tensor) -> torch.Tensor:
    """Code maps (H', W') or (S, H', W') -> the (S * H', W') map the payload codes.

    Stage s's map occupies rows s * H' .. (s + 1) * H' - 1: stage by stage, each in raster order.
    """
    return indices if indices.dim() == 2 else indices.reshape(-1, indices.shape[-1])


def decompress_image_indices(
    data: bytes,
    model=None,
    entropy_model: EntropyModel | None = None,
    max_pixels: int | None = MAX_PIXELS,
) -> tuple[Header, torch.Tensor]:
    """Check an image stream against the model and range-decode its code map (H', W') int64
    ((S, H', W') for a model with S > 1 stages, e.g. residual or grouped VQ).

    ``max_pixels``: as in ``decompress_image``.

    Raises:
        FormatError: a damaged stream, one written with another model, coded with an
            entropy model that was not given, or over ``max_pixels``.
    """
    header, indices, _ = read_stream(data, model, entropy_model, max_pixels, expect=Header)
    return header, indices


@torch.no_grad()
def decompress_image(
    data: bytes,
    model=None,
    entropy_model: EntropyModel | None = None,
    max_pixels: int | None = MAX_PIXELS,
) -> Image.Image:
    """Decode ``.vqz`` bytes into a PIL image ("L" or "RGB", the original size).

    Args:
        data: the bytes ``compress`` wrote.
        model: the same VQ-VAE / Codec / run dir; None: the shipped model whose fingerprint
            the header carries (else the packaged MNIST model).
        entropy_model: the probability model it was coded with, if ``model`` is a bare VQVAE.
        max_pixels: refuse (before decoding anything) a file whose image is larger than
            this many pixels (default ``vqvae.limits.MAX_PIXELS``, 64 megapixels; None: only
            the format's own limit of 2**28).

    Raises:
        FormatError: a truncated, damaged, foreign or unsupported stream, a payload too
            short for the code map its header claims, or an image over ``max_pixels``.
    """
    header, indices, model = read_stream(data, model, entropy_model, max_pixels, expect=Header)
    device = next(model.parameters()).device
    indices = indices.to(device)
    mode = "L" if header.channels == 1 else "RGB"
    image = Image.new(mode, (header.width, header.height))

    def sink(row: int, col: int, x_hat: torch.Tensor) -> None:  # a band or tile, (C, h, w)
        x_hat = x_hat[:, : max(0, header.height - row), : max(0, header.width - col)]
        if x_hat.numel():
            image.paste(_to_image(x_hat, mode), (col, row))

    f = header.downsample_factor
    if header.tile:
        tiling.decode_tiles(model.decode, indices, header.tile, f, sink)
    else:  # a large image: in bands, each pasted into the image as it is decoded
        tiling.decode_bands(model.decode, indices, f, model.decoder, sink)
    return image


def _to_image(x_hat: torch.Tensor, mode: str) -> Image.Image:
    """Decoded floats (C, h, w) -> a PIL image of ``mode`` (rounded, clamped to [0, 255])."""
    a = x_hat.float().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    img = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
    return img.convert(mode) if img.mode != mode else img
