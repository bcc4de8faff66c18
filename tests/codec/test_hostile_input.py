"""Hostile and careless input (#18): every case is refused with one line, exit code 2, no
traceback and no output file, in bounded time and memory where that matters."""

import json
import os
import shutil
import struct
import subprocess
import sys
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vqvae import checkpoint
from vqvae.cli import main
from vqvae.codec import (
    PRETRAINED_MNIST,
    Codec,
    FormatError,
    compress,
    decompress,
    load,
    model_fingerprint,
)
from vqvae.codec import entropy as entropy_coding
from vqvae.codec.container import MAGIC
from vqvae.config import VQVAEConfig
from vqvae.data import load_image
from vqvae.errors import CheckpointError, DataError
from vqvae.limits import MAX_PIXELS
from vqvae.priors import PriorConfig, TransformerPrior, load_prior, save_prior

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def codec() -> Codec:
    return load(None)


def _bomb(codec: Codec, side: int = 16384, payload: bytes = b"", tile: int = 0) -> bytes:
    """A .vqz with a valid header and CRC claiming a side x side image, and ``payload``."""
    header = MAGIC + bytes([2 if tile else 1]) + model_fingerprint(codec.model)
    header += b"\x06static" + codec.entropy_model.fingerprint()
    header += _uvarint(side) * 2 + bytes([1, 4, 0, 0, 1])
    header += _uvarint(tile) if tile else b""
    data = header + _uvarint(len(payload)) + payload
    return data + struct.pack("<I", zlib.crc32(data))


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value >> 7 else 0))
        value >>= 7
        if not value:
            return bytes(out)


def _refused(capsys, argv, *outputs: Path) -> str:
    """Run the CLI in-process: exit code 2, one stderr line, no traceback, no output file."""
    assert main(argv) == 2, argv
    err = capsys.readouterr().err
    assert err.startswith("vqvae: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for path in outputs:
        assert not path.exists(), path
    return err


# ---- 1. decompression bombs ----------------------------------------------------------------


def test_the_44_byte_bomb_is_refused_from_its_header_at_once(codec):
    bomb = _bomb(codec)
    assert len(bomb) == 44
    started = time.perf_counter()
    with pytest.raises(FormatError, match=f"over the limit of {MAX_PIXELS}.*--max-pixels"):
        decompress(bomb, codec)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("tile", [0, 28])
@pytest.mark.parametrize("payload", [b"", b"\x00\x00\x00\x01", bytes(range(64))])
def test_a_payload_too_short_for_its_code_map_is_refused_before_decoding(codec, tile, payload):
    bomb = _bomb(codec, payload=payload, tile=tile)
    started = time.perf_counter()
    with pytest.raises(FormatError, match="payload"):
        decompress(bomb, codec, max_pixels=None)  # past the pixel limit: the payload check
    with pytest.raises(FormatError, match="too short|empty payload"):
        decompress(_bomb(codec, side=8000, payload=payload, tile=tile), codec)  # within it
    assert time.perf_counter() - started < 0.5


def test_a_truncated_payload_is_refused_not_read_past_its_end(codec):
    image = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (1, 112, 112), np.uint8))
    data = compress(codec, image)
    head = len(data) - 4 - codec_payload_length(data)
    length = codec_payload_length(data)
    keep = (length // 2) // 4 * 4
    header = data[:head]
    size_field = _uvarint(length)
    assert header.endswith(size_field)
    cut = header[: -len(size_field)] + _uvarint(keep) + data[head : head + keep]
    cut += struct.pack("<I", zlib.crc32(cut))
    with pytest.raises(FormatError, match="too short"):
        decompress(cut, codec)
    assert np.asarray(decompress(data, codec)).shape == (112, 112)  # the whole file decodes


def codec_payload_length(data: bytes) -> int:
    from vqvae.codec.container import parse

    return parse(data)[0].payload_length


@pytest.mark.parametrize("k", [2, 3, 128, 1024])
@pytest.mark.parametrize("kind", ["certain", "random", "rare"])
def test_the_payload_bound_holds_for_streams_the_encoder_writes(k, kind):
    """The check must never refuse a valid stream: streams where it is tightest decode."""
    rng = np.random.default_rng(k)
    counts = rng.random(k) if kind == "random" else np.r_[1e12, np.ones(k - 1)]
    model = entropy_coding.StaticEntropyModel(counts)
    for n in (1, 2, 7, 300, 5000):
        symbols = np.zeros(n, dtype=np.int64)
        if kind == "random":
            symbols = rng.integers(0, k, n)
        elif kind == "rare":
            symbols[rng.random(n) < 0.002] = k - 1
        indices = torch.from_numpy(symbols).view(1, n)
        payload = entropy_coding.encode(indices, model)
        assert entropy_coding.min_payload_bits(model.table[symbols]) <= 8 * len(payload)
        assert torch.equal(entropy_coding.decode(payload, (1, n), model), indices)


# Peak memory of the child itself: VmHWM of its own address space. (ru_maxrss would do on
# macOS, but Linux carries the parent's high-water mark across fork + exec.)
_PEAK_KB = """
def _peak_kb():
    try:
        with open("/proc/self/status") as status:
            return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
    except OSError:
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // (1024 if sys.platform == "darwin" else 1)
"""


def test_cli_refuses_the_bomb_in_bounded_time_and_memory(codec, tmp_path):
    bomb = tmp_path / "bomb.vqz"
    bomb.write_bytes(_bomb(codec))
    out = tmp_path / "out.png"
    for extra in ([], ["--max-pixels", str(1 << 28)]):  # the pixel limit, then the payload check
        script = (
            "import sys, time\n"
            "from vqvae.cli import main\n"
            f"{_PEAK_KB}\n"
            "started = time.perf_counter()\n"
            f"rc = main(['decompress', {str(bomb)!r}, '-o', {str(out)!r}, *{extra!r}])\n"
            "took = time.perf_counter() - started\n"
            "print(_peak_kb(), took)\n"
            "sys.exit(rc)\n"
        )
        env = {**os.environ, "PYTHONPATH": str(SRC)}
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
        peak_kb, took = done.stdout.split()
        assert int(peak_kb) < 300 * 1024
        assert float(took) < 2.0  # refused up front: decoding the bomb takes minutes
        assert not out.exists()


# ---- 2. huge input images ------------------------------------------------------------------


def _png(path: Path, width: int, height: int) -> Path:
    """A 1-bit black PNG written row by row: a few KB on disk, never width x height in memory."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory) -> Path:
    return _png(tmp_path_factory.mktemp("huge") / "huge.png", 12000, 12000)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A copy of the packaged MNIST run (config.json, weights, entropy.json) to spoil."""
    run = tmp_path_factory.mktemp("run") / "mnist"
    shutil.copytree(PRETRAINED_MNIST, run)
    return run


def test_huge_png_is_small_on_disk(huge_png):
    assert huge_png.stat().st_size < 200_000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(huge_png) as img:
            assert img.size == (12000, 12000)


def test_load_image_refuses_from_the_header_without_pillows_warning(huge_png):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = time.perf_counter()
        with pytest.raises(DataError, match=f"12000x12000 .* limit of {MAX_PIXELS}"):
            load_image(huge_png)
        assert time.perf_counter() - started < 0.5
    assert not caught, [str(w.message) for w in caught]


def test_an_image_over_pillows_own_limit_gets_our_message(tmp_path):
    path = _png(tmp_path / "bigger.png", 14000, 14000)  # > 2 x Image.MAX_IMAGE_PIXELS
    with pytest.raises(DataError, match=f"196000000 pixels, over the limit of {MAX_PIXELS}"):
        load_image(path)


def test_max_pixels_is_the_limit_both_ways(tmp_path):
    path = tmp_path / "small.png"
    Image.new("L", (100, 50)).save(path)
    with pytest.raises(DataError, match="100x50 = 5000 pixels, over the limit of 4999"):
        load_image(path, max_pixels=4999)
    assert load_image(path, max_pixels=5000).shape == (1, 50, 100)
    with pytest.raises(DataError, match="over the limit of 4999"):
        compress(None, torch.zeros(1, 50, 100, dtype=torch.uint8), max_pixels=4999)


@pytest.mark.parametrize(
    "command",
    [
        ["compress", "{img}", "-o", "{out}/x.vqz"],
        ["compress", "{run}", "{img}", "-o", "{out}/x.vqz"],
        ["reconstruct", "{run}", "{img}", "--out-dir", "{out}"],
        ["encode", "{run}", "{img}", "-o", "{out}/codes.npy"],
        ["denoise", "{run}", "{img}", "--out-dir", "{out}"],
        ["corrupt", "{img}", "--noise", "mask:0.5", "--out-dir", "{out}"],
    ],
)
def test_cli_refuses_huge_images_from_the_header(capsys, command, huge_png, run_dir, tmp_path):
    out = tmp_path / "out"
    argv = [a.format(img=huge_png, run=run_dir, out=out) for a in command]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        err = _refused(capsys, argv, out)
    assert not caught
    assert f"limit of {MAX_PIXELS}" in err and "--max-pixels" in err


def test_cli_max_pixels_flag(capsys, tmp_path):
    img = tmp_path / "digit.png"
    Image.new("L", (28, 28), 40).save(img)
    out = tmp_path / "x.vqz"
    assert "over the limit of 700" in _refused(
        capsys, ["compress", str(img), "-o", str(out), "--max-pixels", "700"], out
    )
    assert main(["compress", str(img), "-o", str(out), "--max-pixels", "784"]) == 0
    png = tmp_path / "x.png"
    assert "over the limit of 783" in _refused(
        capsys, ["decompress", str(out), "-o", str(png), "--max-pixels", "783"], png
    )
    _refused(capsys, ["decompress", str(out), "-o", str(png), "--max-pixels", "0"], png)


def test_large_images_are_encoded_in_bands_to_the_same_code_map(codec):
    from vqvae.codec import tiling

    model = codec.model
    assert tiling.receptive_field(model.encoder) == 34  # 4x4/2, 4x4/2, 3x3, 2 x (3x3, 1x1)
    rng = np.random.default_rng(0)
    for height, width in [(301, 257), (517, 203)]:
        x = torch.from_numpy(rng.random((1, height, width), dtype=np.float32))
        with torch.no_grad():
            whole = model.encode(x[None])[0]
            for band_pixels in (4096, 30000):
                bands = tiling.encode_bands(model.encode, x, 4, model.encoder, band_pixels)
                assert torch.equal(bands, whole)
    image = torch.from_numpy(rng.integers(0, 256, (1, 301, 257), dtype=np.uint8))
    before = tiling.BAND_PIXELS
    try:
        tiling.BAND_PIXELS = 10_000  # compress takes the banded path
        banded = compress(codec, image)
    finally:
        tiling.BAND_PIXELS = before
    assert banded == compress(codec, image)  # the same file


# ---- 3. malformed run dirs -------------------------------------------------------------------


def _spoil_model(run: Path, key: str, value) -> None:
    config = json.loads((PRETRAINED_MNIST / "config.json").read_text())
    target = config["model"]
    for part in key.split(".")[:-1]:
        target = target[part]
    target[key.split(".")[-1]] = value
    (run / "config.json").write_text(json.dumps(config))


MALFORMED_MODEL = [
    ("hidden_channels", "64", "must be an integer"),
    ("hidden_channels", 64.0, "must be an integer"),
    ("hidden_channels", -1, "hidden_channels must be in"),
    ("hidden_channels", 200000, "hidden_channels must be in"),
    ("hidden_channels", True, "must be an integer"),
    ("quantizer.codebook_size", 1e9, "codebook_size must be an integer"),
    ("quantizer.codebook_size", 10**9, "codebook_size must be in"),
    ("num_res_blocks", 1e7, "num_res_blocks must be an integer"),
    ("num_res_blocks", 10**7, "num_res_blocks must be in"),
    ("quantizer.kind", "bogus", "unknown quantizer 'bogus'"),
    ("quantizer.kind", 3, "kind must be a str"),
    ("quantizer.decay", float("nan"), "decay"),
    ("quantizer.options", {"num_stages": 10**9}, "num_stages"),
    ("quantizer", 3, "quantizer must be an object"),
    ("downsample_factor", 4.0, "downsample_factor must be an integer"),
    ("image_size", "28", "image_size must be"),
    ("image_size", [100000, 100000], "image_size must be in"),
    ("arch", None, "arch"),
]


@pytest.mark.parametrize("key, value, message", MALFORMED_MODEL)
def test_malformed_model_config_is_one_line(capsys, tmp_path, key, value, message):
    run = tmp_path / "run"
    shutil.copytree(PRETRAINED_MNIST, run)
    _spoil_model(run, key, value)
    out = tmp_path / "x.vqz"
    img = tmp_path / "digit.png"
    Image.new("L", (28, 28)).save(img)
    err = _refused(capsys, ["compress", str(run), str(img), "-o", str(out)], out)
    assert "invalid model config" in err and message in err


@pytest.mark.parametrize(
    "changes",
    [
        {"arch": "mlp", "image_size": [60000, 60000]},  # every side allowed, the product not
        {"hidden_channels": 16384, "res_channels": 16384, "num_res_blocks": 1000},
        {"quantizer": {"kind": "ema", "codebook_size": 1 << 20, "code_dim": 16384}},
    ],
)
def test_no_config_builds_a_model_over_the_parameter_limit(changes):
    config = json.loads((PRETRAINED_MNIST / "config.json").read_text())["model"]
    started = time.perf_counter()
    with pytest.raises(CheckpointError, match="parameters, more than the limit"):
        VQVAEConfig.from_dict({**config, **changes})
    assert time.perf_counter() - started < 0.5  # estimated, not built


def test_valid_configs_and_fingerprints_are_unchanged(codec):
    config = json.loads((PRETRAINED_MNIST / "config.json").read_text())["model"]
    assert (
        VQVAEConfig.from_dict(config).to_dict()
        == VQVAEConfig.from_dict(VQVAEConfig.from_dict(config).to_dict()).to_dict()
    )
    data = compress(codec, torch.zeros(1, 28, 28, dtype=torch.uint8))
    assert np.asarray(decompress(data, codec)).shape == (28, 28)


@pytest.mark.parametrize(
    "counts, message",
    [
        ([1, 2, 3], "3 counts for a codebook of 128 codes"),
        ([1e30] * 128, "counts must be integers"),
        ([10**30] * 128, "counts must be integers"),
        ([-1] * 128, "counts must be integers"),
        ([True] * 128, "counts must be integers"),
    ],
)
def test_malformed_entropy_json_is_one_line(capsys, tmp_path, counts, message):
    run = tmp_path / "run"
    shutil.copytree(PRETRAINED_MNIST, run)
    (run / "entropy.json").write_text(
        json.dumps({"format_version": 1, "kind": "static", "counts": counts})
    )
    img = tmp_path / "digit.png"
    Image.new("L", (28, 28)).save(img)
    out = tmp_path / "x.vqz"
    assert message in _refused(capsys, ["compress", str(run), str(img), "-o", str(out)], out)


def _tiny_prior(**changes) -> TransformerPrior:
    config = PriorConfig(codebook_size=128, height=7, width=7, n_layer=1, n_head=2, n_embd=8)
    return TransformerPrior(config.replace(**changes))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"n_embd": "96"}, "n_embd must be an integer"),
        ({"n_layer": 10**7}, "n_layer must be in"),
        ({"codebook_size": 1e9}, "codebook_size must be an integer"),
        ({"height": 60000, "width": 60000, "positions": "1d"}, "parameters, more than the limit"),
        ({"dropout": float("nan")}, "dropout"),
        ({"positions": 2}, "positions"),
    ],
)
def test_malformed_prior_config_is_one_line(capsys, tmp_path, changes, message):
    run = tmp_path / "run"
    shutil.copytree(PRETRAINED_MNIST, run)
    save_prior(_tiny_prior(), run)
    path = run / "prior" / "config.json"
    config = json.loads(path.read_text())
    config["prior"].update(changes)
    path.write_text(json.dumps(config))
    out = tmp_path / "grid.png"
    err = _refused(capsys, ["sample", str(run), "-n", "1", "-o", str(out)], out)
    assert "invalid prior config" in err and message in err


# ---- 4. CLI values ---------------------------------------------------------------------------


CLI_VALUES = [
    (["sample", "{run}", "--temperature", "nan", "-o", "{out}"], "--temperature"),
    (["sample", "{run}", "--temperature", "inf", "-o", "{out}"], "--temperature"),
    (["sample", "{run}", "-n", "100000000", "-o", "{out}"], "-n"),
    (
        ["complete", "{run}", "{img}", "--keep", "top", "--temperature", "nan", "-o", "{out}"],
        "temp",
    ),
    (["eval", "{run}", "--limit", "-1"], "--limit"),
    (["eval", "{run}", "--batch-size", "0"], "--batch-size"),
    (["fit-entropy", "{run}", "--limit", "0"], "--limit"),
    (["fit-entropy", "{run}", "--batch-size", "-5"], "--batch-size"),
    (["encode-dataset", "{run}", "--out-dir", "{out}", "--batch-size", "0"], "--batch-size"),
    (["denoise", "{run}", "{img}", "--out-dir", "{out}", "--iterations", "100000"], "--iterations"),
    (["denoise", "{run}", "{img}", "--out-dir", "{out}", "--iterations", "-1"], "--iterations"),
    (["compress", "{img}", "-o", "{out}", "--rd-lambda", "nan"], "--rd-lambda"),
    (["compress", "{img}", "-o", "{out}", "--tile", "0"], "--tile"),
    (["compress", "{img}", "-o", "{out}", "--max-pixels", "-3"], "--max-pixels"),
    (["compress", "{img}", "-o", "{out}", "--device", "cuda:99"], "cuda:99"),
    (["decompress", "{img}", "-o", "{out}", "--device", "tpu"], "--device"),
    (["corrupt", "{img}", "--noise", "mask:0.5", "--seed", "-1", "--out-dir", "{out}"], "--seed"),
    (["corrupt", "{img}", "--noise", "gaussian:nan", "--out-dir", "{out}"], "gaussian"),
    (["train", "--downsample", "3"], "--help"),
    (["compress", "{img}", "-o", "{out}", "--bogus"], "unrecognized arguments"),
    (["no-such-command"], "invalid choice"),
]


@pytest.mark.parametrize("argv, message", CLI_VALUES)
def test_bad_cli_values_are_one_line(capsys, tmp_path, run_dir, argv, message):
    img = tmp_path / "digit.png"
    Image.new("L", (28, 28)).save(img)
    out = tmp_path / "out"
    argv = [a.format(run=run_dir, img=img, out=out) for a in argv]
    assert message in _refused(capsys, argv, out)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("command", ["compress", "decompress", "reconstruct", "eval"])
def test_device_cuda_without_cuda_is_one_line(capsys, tmp_path, run_dir, command):
    img = tmp_path / "digit.png"
    Image.new("L", (28, 28)).save(img)
    out = tmp_path / "out"
    argv = {
        "compress": ["compress", str(img), "-o", str(out)],
        "decompress": ["decompress", str(img), "-o", str(out)],
        "reconstruct": ["reconstruct", str(run_dir), str(img), "--out-dir", str(out)],
        "eval": ["eval", str(run_dir)],
    }[command]
    assert "CUDA is not available" in _refused(capsys, [*argv, "--device", "cuda"], out)


def test_usage_errors_point_to_help(capsys):
    err = _refused(capsys, ["train", "--downsample", "3"])
    assert err.rstrip().endswith("(see `vqvae train --help`)")
    assert "usage:" not in err


# ---- 5. smaller ones -------------------------------------------------------------------------


def test_prior_pair_survives_a_kill_between_its_files(tmp_path, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(PRETRAINED_MNIST, run)
    first = _tiny_prior()
    save_prior(first, run)
    (run / "prior" / "metrics.jsonl").write_text("{}\n")
    second = _tiny_prior(n_embd=16)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies after the weights, before the config

    monkeypatch.setattr(checkpoint, "write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        save_prior(second, run)
    monkeypatch.undo()
    loaded = load_prior(run)  # still the first pair, whole
    assert loaded.config == first.config
    for key, tensor in first.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor)
    save_prior(second, run)
    assert load_prior(run).config == second.config
    assert (run / "prior" / "metrics.jsonl").read_text() == "{}\n"  # carried over
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []


def test_weights_get_the_permissions_of_other_files(tmp_path):
    umask = os.umask(0o022)
    try:
        checkpoint.save_weights(tmp_path / "model.safetensors", {"w": torch.zeros(2)})
        checkpoint.write_json(tmp_path / "config.json", {})
    finally:
        os.umask(umask)
    assert (tmp_path / "model.safetensors").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "config.json").stat().st_mode & 0o777 == 0o644


def test_write_errors_name_the_target_not_the_temp_file(capsys, tmp_path):
    img = tmp_path / "digit.png"
    Image.new("L", (28, 28)).save(img)
    blocker = tmp_path / "file"
    blocker.write_text("")
    target = blocker / "x.vqz"  # its folder is a file
    err = _refused(capsys, ["compress", str(img), "-o", str(target)])
    assert ".tmp" not in err and str(blocker) in err
    if Path("/proc").is_dir():
        err = _refused(capsys, ["compress", str(img), "-o", "/proc/x.vqz"])
        assert "/proc/x.vqz" in err and ".tmp" not in err
        assert main(["compress", str(img), "-o", str(tmp_path / "x.vqz")]) == 0
        capsys.readouterr()
        err = _refused(capsys, ["decompress", str(tmp_path / "x.vqz"), "-o", "/proc/x.png"])
        assert "/proc/x.png" in err and ".tmp" not in err


class _Foreign:
    """A class a weights_only load refuses."""


def test_corrupt_state_errors_do_not_advise_unsafe_loading(tmp_path):
    for content in ({"model": _Foreign()}, None):
        path = tmp_path / checkpoint.TRAIN_STATE_FILE
        if content is None:
            path.write_bytes(b"garbage" * 10)
        else:
            torch.save(content, path)
        with pytest.raises(CheckpointError) as caught:
            checkpoint.load_train_state(tmp_path)
        message = str(caught.value)
        assert "weights_only" not in message and "\n" not in message
        assert "not a plain tensor file" in message


def test_a_folder_without_config_is_not_a_run_dir(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    img = tmp_path / "digit.png"
    Image.new("L", (28, 28)).save(img)
    out = tmp_path / "x.vqz"
    for argv in (
        ["compress", str(empty), str(img), "-o", str(out)],
        ["reconstruct", str(empty), str(img), "--out-dir", str(out)],
        ["eval", str(empty)],
        ["sample", str(empty), "-o", str(out)],
    ):
        assert "not a run directory" in _refused(capsys, argv, out)


# ---- training: clobbered and shared run dirs, malformed training state ----------------------

TINY_TRAIN = ["--hidden", "8", "--res-channels", "4", "--res-blocks", "1", "--code-dim", "4"]
TINY_TRAIN += ["--codebook-size", "16", "--train-subset", "32", "--eval-subset", "16"]
TINY_TRAIN += ["--batch-size", "16", "--max-steps", "2", "--device", "cpu", "--no-progress"]


@pytest.fixture
def trained(tmp_path) -> Path:
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), *TINY_TRAIN]) == 0
    return run


def test_a_trained_run_is_not_overwritten_by_accident(capsys, trained):
    before = (trained / "model.safetensors").read_bytes()
    capsys.readouterr()
    err = _refused(capsys, ["train", "--out", str(trained), *TINY_TRAIN])
    assert "already holds a run" in err and "--overwrite" in err
    assert (trained / "model.safetensors").read_bytes() == before
    (trained / "entropy.json").write_text("{}")  # an old run's entropy model
    assert main(["train", "--out", str(trained), *TINY_TRAIN, "--overwrite", "--seed", "1"]) == 0
    assert (trained / "model.safetensors").read_bytes() != before
    assert not (trained / "entropy.json").exists()  # nothing of the old model is kept
    _refused(capsys, ["train", "--out", str(trained), "--resume", "--overwrite"])


def test_a_run_killed_before_its_first_checkpoint_is_not_silently_resumed(capsys, trained):
    (trained / "config.json").unlink()  # only the old train_state.pt is left
    err = _refused(capsys, ["train", "--out", str(trained), *TINY_TRAIN])
    assert "already holds a run" in err


def test_a_second_trainer_is_refused_with_the_holders_pid(capsys, tmp_path):
    from vqvae.train import rundir

    run = tmp_path / "run"
    with rundir.locked(run):
        err = _refused(capsys, ["train", "--out", str(run), *TINY_TRAIN])
    assert f"pid {os.getpid()}" in err and "another process" in err
    assert not (run / "config.json").exists()
    # a stale lock (its holder gone) blocks nobody
    (run / rundir.LOCK_FILE).write_text("999999999\n")
    assert main(["train", "--out", str(run), *TINY_TRAIN]) == 0


def test_two_trainers_in_two_processes(tmp_path):
    """The real case: a second `vqvae train` while the first one runs."""
    run = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(SRC), OMP_NUM_THREADS="1")
    slow = "import sys, time\nfrom torch.optim.optimizer import register_optimizer_step_post_hook\n"
    slow += "register_optimizer_step_post_hook(lambda *a: time.sleep(0.2))\n"
    slow += "from vqvae.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    argv = ["train", "--out", str(run), *TINY_TRAIN[:-3], "--max-steps", "50", "--no-progress"]
    first = subprocess.Popen([sys.executable, "-c", slow, *argv], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (run / "config.json").exists():
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        second = subprocess.run([sys.executable, "-m", "vqvae", *argv, "--overwrite"], env=env,
                                capture_output=True, text=True, timeout=120)  # fmt: skip
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 2 and f"pid {first.pid}" in second.stderr, second.stderr
    assert second.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "train, message",
    [([1], "an object"), ({"dataset": 5}, "dataset must be a str"),
     ({"dataset": "mnist", "random_crop": -3}, "--random-crop")],
)  # fmt: skip
def test_malformed_training_settings_are_one_line(capsys, trained, train, message):
    config = json.loads((trained / "config.json").read_text())
    config["train"] = train
    (trained / "config.json").write_text(json.dumps(config))
    for argv in (
        ["eval", str(trained), "--limit", "4"],
        ["train", "--out", str(trained), "--resume"],
    ):
        assert message in _refused(capsys, argv)


@pytest.mark.parametrize(
    "key, value, message",
    [("step", "abc", "step must be an integer"), ("rng", torch.zeros(3, dtype=torch.uint8), "rng"),
     ("elapsed", float("nan"), "elapsed")],
)  # fmt: skip
def test_a_malformed_training_state_is_one_line(capsys, trained, key, value, message):
    state = checkpoint.load_train_state(trained)
    state[key] = value
    torch.save(state, trained / "train_state.pt")
    err = _refused(capsys, ["train", "--out", str(trained), "--resume", "--max-steps", "3"])
    assert "damaged training state" in err and message in err


@pytest.mark.parametrize(
    "flags, message",
    [(["--lr", "nan"], "--lr"), (["--hidden", "0"], "hidden"), (["--max-steps", "0"], "--max-steps"),
     (["--max-steps", "-1"], "--max-steps"), (["--checkpoint-every", "-1"], "--checkpoint-every"),
     (["--train-subset", "0"], "--train-subset"), (["--res-blocks", "-1"], "res"),
     (["--max-minutes", "nan"], "--max-minutes"), (["--downsample", "3"], "--downsample")],
)  # fmt: skip
def test_bad_training_values_are_one_line_and_leave_no_run_dir(capsys, tmp_path, flags, message):
    out = tmp_path / "out"
    base = [f for f in TINY_TRAIN if f not in ("--max-steps", "2")]
    assert message in _refused(capsys, ["train", "--out", str(out), *base, *flags], out)


def test_train_prior_keeps_the_old_priors_log_until_it_has_a_new_prior(tmp_path, trained):
    assert main(["train-prior", str(trained), "--dataset", str(SRC.parent / "examples" / "digits"),
                 "--max-steps", "1", "--n-layer", "1", "--n-embd", "16", "--n-head", "2"]) == 0  # fmt: skip
    log = trained / "prior" / "metrics.jsonl"
    assert len(log.read_text().splitlines()) == 1
    log.write_text('{"old": 1}\n')
    from vqvae.train import prior as prior_training

    def boom(*args, **kwargs):
        raise RuntimeError("killed")

    original = prior_training._step
    prior_training._step = boom
    try:
        with pytest.raises(RuntimeError):
            main(["train-prior", str(trained), "--max-steps", "1", "--n-layer", "1",
                  "--n-embd", "16", "--n-head", "2"])  # fmt: skip
    finally:
        prior_training._step = original
    assert log.read_text() == '{"old": 1}\n'  # the old prior's log, untouched
