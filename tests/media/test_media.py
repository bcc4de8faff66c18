"""vqvae.media: reading and writing image and sound files, a leaf below data/ and codec/."""

import ast
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from vqvae.errors import DataError
from vqvae.media import (
    infer_channels,
    load_image,
    read_audio,
    resample,
    sample_rate_of,
    save_image,
    to_8bit,
    write_audio,
)


def test_an_image_over_max_pixels_is_refused_from_its_header(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (20, 10)).save(path)
    assert load_image(path, max_pixels=200).shape == (3, 10, 20)
    with pytest.raises(DataError, match="20x10 = 200 pixels, over the limit of 199"):
        load_image(path, max_pixels=199)


def test_16_bit_grayscale_is_scaled_to_8_bits_not_clipped(tmp_path):
    values = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)  # mode I;16
    x = load_image(path)
    assert x.dtype == torch.uint8 and x.shape == (1, 1, 4)
    assert x.flatten().tolist() == [0, 1, 128, 255]  # round(v / 257), 255 only at the top
    assert to_8bit(Image.fromarray(values), 1).getpixel((2, 0)) == 128


def test_a_palette_image_reads_as_its_colours(tmp_path):
    img = Image.new("P", (2, 1))
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 6))
    img.putpixel((1, 0), 1)
    path = tmp_path / "palette.png"
    img.save(path)
    assert infer_channels("P") == 3 and infer_channels("I;16") == 1
    x = load_image(path)
    assert x[:, 0, 0].tolist() == [255, 0, 0] and x[:, 0, 1].tolist() == [0, 0, 255]
    assert load_image(path, channels=1).shape == (1, 1, 2)


def test_save_then_load_an_image_is_exact(tmp_path):
    x = torch.randint(0, 256, (3, 5, 7), dtype=torch.uint8)
    path = tmp_path / "sub" / "x.png"
    save_image(x, path)
    assert torch.equal(load_image(path), x)
    assert [p.name for p in path.parent.iterdir()] == ["x.png"]  # no temporary file left


def test_16_bit_audio_round_trips_exactly(tmp_path):
    pcm = np.random.default_rng(0).integers(-32768, 32767, 800)
    samples = (pcm / 32768.0).astype(np.float32)
    path = tmp_path / "a.wav"
    write_audio(path, torch.from_numpy(samples)[None], 8000)
    back, rate = read_audio(path)
    assert rate == 8000 == sample_rate_of(path)
    assert back.dtype == np.float32 and np.array_equal(back, samples)


@pytest.mark.parametrize(("rate", "new_rate"), [(8000, 16000), (16000, 8000), (44100, 8000)])
def test_resample_gives_ceil_t_times_the_rate_ratio(rate, new_rate):
    t = 1001
    out = resample(np.zeros(t, dtype=np.float32), rate, new_rate)
    assert out.dtype == np.float32 and len(out) == math.ceil(t * new_rate / rate)


def test_read_audio_resamples_to_the_asked_rate(tmp_path):
    path = tmp_path / "tone.wav"
    write_audio(path, 0.5 * np.sin(np.arange(1600) * 0.1), 16000)
    samples, rate = read_audio(path, sample_rate=8000)
    assert rate == 8000 and len(samples) == 800


def test_media_is_a_leaf():
    code = (
        "import sys, vqvae.media\n"
        "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('vqvae.')}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(ast.literal_eval(out.stdout))
    assert not loaded & {"data", "models", "codec", "train", "cli", "config", "runs"}, loaded


def test_data_keeps_the_old_names():
    from vqvae import media
    from vqvae.data import audio, folder

    assert folder.load_image is media.load_image and folder._to_8bit is media.to_8bit
    assert folder.infer_channels is media.infer_channels and folder.save_image is media.save_image
    assert audio.read_audio is media.read_audio and audio.resample is media.resample
    assert audio.write_audio is media.write_audio
    assert audio.AUDIO_EXTENSIONS == media.AUDIO_EXTENSIONS == (".flac", ".wav")


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_pixels_are_copied_out_in_strips_exactly(monkeypatch, mode):
    import vqvae.media.image as media_image

    monkeypatch.setattr(media_image, "STRIP_PIXELS", 7 * 13)  # 7 rows of 13 a strip: 5 strips
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (31, 13) if mode == "L" else (31, 13, 3), dtype=np.uint8)
    got = media_image.pixels_chw(Image.fromarray(a))
    assert got.flags.writeable and got.flags.c_contiguous
    assert np.array_equal(got, a[None] if mode == "L" else a.transpose(2, 0, 1))


def test_a_large_photo_is_read_and_written_with_its_pixels_held_twice_at_most(tmp_path):
    """12 MP: Pillow holds 48 MB (RGBX) and the (C, H, W) tensor 36 MB. Reading used to hold
    the pixels five times more (an EXIF copy, a mode copy, numpy's copies, the transpose)."""
    rng = np.random.default_rng(0)
    tile = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    Image.fromarray(np.tile(tile, (10, 10, 1))).save(tmp_path / "big.png", compress_level=1)
    script = """
import json, resource, sys
from PIL import Image
from vqvae.media import load_image, save_image
def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = peak()
x = load_image(sys.argv[1] + "/big.png")
read = peak() - start
del x
image = Image.open(sys.argv[1] + "/big.png"); image.load()
start = peak()
save_image(image, sys.argv[1] + "/out.png")
print(json.dumps({"read": read, "write": peak() - start, "shape": list(load_image(sys.argv[1] + "/out.png").shape)}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True
    )
    result = __import__("json").loads(done.stdout.splitlines()[-1])
    assert result["shape"] == [3, 3000, 4000]
    assert result["read"] < 48 + 36 + 25, result
    assert result["write"] < 25, result  # a PIL image is written as it is, not copied
