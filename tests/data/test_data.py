"""Tests for vqvae.data: IDX, CIFAR-10 (both layouts), image folders, downloads, ImageDataset."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vqvae.data import DATASET_NAMES, ImageDataset, load_dataset, load_image, save_image
from vqvae.data import download as dl
from vqvae.data.cifar import find_cifar10, load_cifar10
from vqvae.data.datasets import EMBEDDED_DIR, locate_dataset
from vqvae.data.folder import list_images, load_folder
from vqvae.data.idx import read_idx_images, read_idx_labels
from vqvae.data.transforms import random_crop, resize
from vqvae.errors import DataError

DATA = Path(os.environ.get("VQVAE_TEST_DATA", Path(__file__).parents[3] / "shared" / "data"))
needs_shared = pytest.mark.skipif(
    not (DATA / "cifar10").is_dir() or not (DATA / "fashion-mnist").is_dir(),
    reason=f"shared test data not found at {DATA} (set VQVAE_TEST_DATA)",
)

# From /work/shared/data/*/SOURCE.md.
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
CIFAR_TRAIN_FIRST_LABELS = [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
CIFAR_TEST_FIRST_LABELS = [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]


def _row(images: torch.Tensor, i: int) -> list[int]:
    """Image i in the canonical CIFAR row layout (R plane, G plane, B plane)."""
    return images[i].reshape(-1).tolist()


def _mean(images: torch.Tensor, dims=None) -> np.ndarray:
    """Exact mean pixel value (numpy's integer sum is ~40x faster than torch's on uint8)."""
    a = images.numpy()
    total = a.sum(axis=dims, dtype=np.int64)
    return total / (a.size / np.size(total))


def _assert_one_line_data_error(excinfo, *fragments: str) -> None:
    msg = str(excinfo.value)
    assert "\n" not in msg
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} not in {msg!r}"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    # A user's own data/cache settings must not leak into the resolution tests.
    monkeypatch.delenv("VQVAE_DATA_DIR", raising=False)
    monkeypatch.setenv("VQVAE_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("VQVAE_DATA_DIR", raising=False)
        mp.setenv("VQVAE_CACHE", str(tmp_path_factory.mktemp("empty-cache")))
        assert locate_dataset("mnist", "train") == EMBEDDED_DIR / "mnist"
        return {split: load_dataset("mnist", split) for split in ("train", "test")}


@pytest.fixture(scope="module")
def cifar_train():
    if not (DATA / "cifar10").is_dir():
        pytest.skip(f"no CIFAR-10 at {DATA}")
    return load_dataset("cifar10", "train", data_dir=DATA)


# --- MNIST / Fashion-MNIST -------------------------------------------------------------------


def test_embedded_mnist_shapes_labels_and_stats(mnist):
    train, test = mnist["train"], mnist["test"]
    assert train.images.shape == (60000, 1, 28, 28) and train.images.dtype == torch.uint8
    assert test.images.shape == (10000, 1, 28, 28)
    assert train.labels.dtype == torch.int64 and train.labels.shape == (60000,)
    assert train.labels.bincount().tolist() == MNIST_TRAIN_COUNTS
    assert test.labels.bincount().tolist() == MNIST_TEST_COUNTS
    assert train.labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert _mean(train.images) == pytest.approx(33.318, abs=1e-3)
    assert _mean(test.images) == pytest.approx(33.791, abs=1e-3)
    assert train.name == "mnist" and train.channels == 1 and train.image_size == (28, 28)


@needs_shared
def test_mnist_data_dir_parent_matches_embedded(mnist):
    ds = load_dataset("mnist", "test", data_dir=DATA)  # DATA/mnist via the parent rule
    assert torch.equal(ds.images, mnist["test"].images)
    assert torch.equal(ds.labels, mnist["test"].labels)


@needs_shared
def test_fashion_mnist_via_data_dir():
    train = load_dataset("fashion-mnist", "train", data_dir=DATA)
    test = load_dataset("fashion-mnist", "test", data_dir=DATA / "fashion-mnist")  # direct
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert train.labels.bincount().tolist() == [6000] * 10
    assert test.labels.bincount().tolist() == [1000] * 10
    assert _mean(train.images) == pytest.approx(72.940, abs=1e-3)
    assert _mean(test.images) == pytest.approx(73.147, abs=1e-3)


@needs_shared
def test_data_dir_env_var_and_aliases(monkeypatch):
    monkeypatch.setenv("VQVAE_DATA_DIR", str(DATA))
    ds = load_dataset("Fashion_MNIST", "test")
    assert ds.name == "fashion-mnist" and len(ds) == 10000
    assert ds.labels.bincount().tolist() == [1000] * 10


def test_idx_reader_gz_and_raw_agree(tmp_path, mnist):
    raw = tmp_path / "t10k-labels-idx1-ubyte"
    raw.write_bytes(
        gzip.decompress((EMBEDDED_DIR / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())
    )
    assert np.array_equal(read_idx_labels(raw), mnist["test"].labels.numpy())


def test_idx_bad_magic_and_truncation(tmp_path):
    labels = EMBEDDED_DIR / "mnist" / "t10k-labels-idx1-ubyte.gz"
    with pytest.raises(DataError, match="magic number 0x00000801, expected 0x00000803") as e:
        read_idx_images(labels)
    _assert_one_line_data_error(e)
    truncated = tmp_path / "t10k-labels-idx1-ubyte"
    truncated.write_bytes(gzip.decompress(labels.read_bytes())[:100])
    with pytest.raises(DataError, match="truncated"):
        read_idx_labels(truncated)
    not_idx = tmp_path / "junk"
    not_idx.write_bytes(b"hello world")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx_labels(not_idx)


def test_named_dataset_transforms(synthetic_cifar, mnist):
    batches, (train_x, *_) = synthetic_cifar
    ds = load_dataset("cifar10", data_dir=batches, resize=40, center_crop=(36, 38))
    assert ds.images.shape == (50, 3, 36, 38) and ds.labels.shape == (50,)
    gray3 = load_dataset("mnist", "test", channels=3).subset(5)
    assert gray3.images.shape == (5, 3, 28, 28)
    assert torch.equal(gray3.images[:, 2], mnist["test"].images[:5, 0])
    # Antialiased bicubic (torch) stays close to Pillow's bicubic on a real digit.
    digit = mnist["test"].images[:1]
    pil = np.asarray(
        Image.fromarray(digit[0, 0].numpy()).resize((32, 32), Image.Resampling.BICUBIC)
    )
    ours = resize(digit, (32, 32))[0, 0].numpy()
    assert np.abs(ours.astype(int) - pil.astype(int)).mean() < 2


# --- CIFAR-10 ---------------------------------------------------------------------------------


@needs_shared
def test_cifar10_webp_train(cifar_train):
    x, y = cifar_train.images, cifar_train.labels
    assert x.shape == (50000, 3, 32, 32) and x.dtype == torch.uint8
    assert y.shape == (50000,) and y[:10].tolist() == CIFAR_TRAIN_FIRST_LABELS
    assert y.bincount().tolist() == [5000] * 10
    # data_batch_1 rows 0 and 9999 as printed from the original pickles.
    assert _row(x, 0)[:3] == [59, 43, 50] and _row(x, 0)[-3:] == [140, 84, 72]
    assert _row(x, 9999)[:3] == [62, 61, 60] and _row(x, 9999)[-3:] == [130, 130, 131]
    mean = _mean(x, dims=(0, 2, 3)) / 255
    assert np.allclose(mean, [0.49139968, 0.48215841, 0.44653091], rtol=0, atol=1e-8)
    assert find_cifar10(DATA / "cifar10") == ("webp", DATA / "cifar10")


@needs_shared
def test_cifar10_webp_test_split():
    x, y = load_cifar10(DATA / "cifar10", "test")
    assert x.shape == (10000, 3, 32, 32) and y[:10].tolist() == CIFAR_TEST_FIRST_LABELS
    assert _row(x, 0)[:3] == [158, 159, 165] and _row(x, 0)[-3:] == [124, 129, 110]


def _dump_batch(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    batch = {
        b"batch_label": b"synthetic batch",
        b"labels": [int(v) for v in y],
        b"data": x.reshape(len(x), -1),  # (N, 3072): R plane, G plane, B plane
        b"filenames": [b"img_%d.png" % i for i in range(len(x))],
    }
    # The official files are Python 2 pickles written by numpy 1.x, which spells the array
    # constructor numpy.core.multiarray._reconstruct (numpy 2 renamed it numpy._core).
    raw = pickle.dumps(batch, protocol=2)
    raw = raw.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in raw
    path.write_bytes(raw)


def _write_cifar_pickles(root: Path, train_x, train_y, test_x, test_y) -> Path:
    batches = root / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    for i, (xs, ys) in enumerate(zip(np.split(train_x, 5), np.split(train_y, 5), strict=True)):
        _dump_batch(batches / f"data_batch_{i + 1}", xs, ys)
    _dump_batch(batches / "test_batch", test_x, test_y)
    return batches


@pytest.fixture
def synthetic_cifar(tmp_path):
    rng = np.random.default_rng(0)
    train_x = rng.integers(0, 256, (50, 3, 32, 32), dtype=np.uint8)
    train_y = rng.integers(0, 10, 50)
    test_x = rng.integers(0, 256, (10, 3, 32, 32), dtype=np.uint8)
    test_y = rng.integers(0, 10, 10)
    batches = _write_cifar_pickles(tmp_path / "c", train_x, train_y, test_x, test_y)
    return batches, (train_x, train_y, test_x, test_y)


@needs_shared
def test_cifar10_pickle_layout_loads_identically(tmp_path, cifar_train):
    x, y = cifar_train.images[:500].numpy(), cifar_train.labels[:500].numpy()
    batches = _write_cifar_pickles(tmp_path, x, y, x[:20], y[:20])
    assert find_cifar10(tmp_path) == ("pickle", batches)
    for folder in (tmp_path, batches):  # the parent and the batches folder both work
        ds = load_dataset("cifar10", "train", data_dir=folder)
        assert torch.equal(ds.images, cifar_train.images[:500])
        assert torch.equal(ds.labels, cifar_train.labels[:500])
    assert _row(ds.images, 0)[:3] == [59, 43, 50]
    test = load_dataset("cifar10", "test", data_dir=tmp_path)
    assert torch.equal(test.images, cifar_train.images[:20])


def test_cifar10_grayscale_matches_pillow(synthetic_cifar):
    batches, (train_x, *_) = synthetic_cifar
    ds = load_dataset("cifar10", data_dir=batches, channels=1)
    assert ds.images.shape == (50, 1, 32, 32)
    for i in (0, 17, 49):
        pil = np.asarray(Image.fromarray(train_x[i].transpose(1, 2, 0)).convert("L"))
        assert np.array_equal(ds.images[i, 0].numpy(), pil)


def test_cifar10_pickle_refuses_code_execution(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.getcwd, ())

    batches = tmp_path / "cifar-10-batches-py"
    batches.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)]:
        (batches / name).write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DataError, match="posix.getcwd is not allowed|nt.getcwd is not allowed"):
        load_dataset("cifar10", data_dir=tmp_path)


# --- image folders ----------------------------------------------------------------------------


def _noise(h: int, w: int, c: int, seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)
    return a[:, :, 0] if c == 1 else a


@pytest.fixture
def rgb_folder(tmp_path):
    """Four 40x60 RGB images in nested folders, plus files that must be ignored."""
    root = tmp_path / "rgb"
    arrays = {}
    for rel, seed in [("a/1.png", 1), ("b/c/2.jpg", 2), ("3.bmp", 3), ("4.webp", 4)]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays[rel] = _noise(40, 60, 3, seed)
        kwargs = {"lossless": True} if rel.endswith(".webp") else {}
        Image.fromarray(arrays[rel]).save(path, **kwargs)
    (root / "README.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.png").write_bytes(b"garbage")
    return root, arrays


def test_folder_rgb_sorted_nested_and_lossless(rgb_folder):
    root, arrays = rgb_folder
    order = ["3.bmp", "4.webp", "a/1.png", "b/c/2.jpg"]
    assert [p.relative_to(root).as_posix() for p in list_images(root)] == order
    ds = load_dataset(str(root))
    assert ds.images.shape == (4, 3, 40, 60) and ds.labels is None and ds.name == str(root)
    for i, rel in enumerate(order):
        got = ds.images[i].permute(1, 2, 0).numpy()
        if rel.endswith(".jpg"):  # lossy: noise survives only roughly
            assert np.abs(got.astype(int) - arrays[rel].astype(int)).mean() < 60
        else:
            assert np.array_equal(got, arrays[rel])


def test_folder_grayscale_inferred_and_converted(tmp_path, rgb_folder):
    gray = tmp_path / "gray"
    gray.mkdir()
    for i in range(3):
        Image.fromarray(_noise(20, 20, 1, i)).save(gray / f"{i}.png")
    ds = load_dataset(str(gray))
    assert ds.images.shape == (3, 1, 20, 20) and ds.channels == 1
    assert np.array_equal(ds.images[2, 0].numpy(), _noise(20, 20, 1, 2))
    as_rgb = load_dataset(str(gray), channels=3)
    assert as_rgb.images.shape == (3, 3, 20, 20)
    assert torch.equal(as_rgb.images[:, 1], ds.images[:, 0])
    root, arrays = rgb_folder
    to_gray = load_dataset(str(root), channels=1)
    pil = np.asarray(Image.open(root / "a" / "1.png").convert("L"))
    assert np.array_equal(to_gray.images[2, 0].numpy(), pil)


def test_load_image_16bit_grayscale_is_scaled(tmp_path):
    a = np.array([[0, 257, 65535, 25700]], dtype=np.uint16)
    Image.fromarray(a).save(tmp_path / "deep.png")
    x = load_image(tmp_path / "deep.png")
    assert x.shape == (1, 1, 4) and x[0, 0].tolist() == [0, 1, 255, 100]


def test_folder_resize_and_center_crop(rgb_folder):
    root, arrays = rgb_folder
    assert load_dataset(str(root), resize=20).images.shape == (4, 3, 20, 30)  # shorter side
    assert load_dataset(str(root), resize=(16, 24)).image_size == (16, 24)
    ds = load_dataset(str(root), center_crop=(20, 30))
    assert ds.images.shape == (4, 3, 20, 30)
    expected = arrays["a/1.png"][10:30, 15:45]
    assert np.array_equal(ds.images[2].permute(1, 2, 0).numpy(), expected)


def test_folder_random_crop_reproducible_and_in_bounds(rgb_folder):
    root, _ = rgb_folder
    ds = load_dataset(str(root), random_crop=8)
    assert ds.images.shape == (4, 3, 40, 60) and ds.image_size == (8, 8)
    idx = torch.tensor([0, 1, 2, 3, 2])
    a = ds.batch(idx, torch.Generator().manual_seed(0))
    b = ds.batch(idx, torch.Generator().manual_seed(0))
    c = ds.batch(idx, torch.Generator().manual_seed(1))
    assert a.shape == (5, 3, 8, 8) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    full = ds.images.float() / 255
    for crop, i in zip(a, idx.tolist(), strict=True):  # each crop is a window of its image
        windows = full[i].unfold(1, 8, 1).unfold(2, 8, 1)  # (C, 33, 53, 8, 8)
        assert (windows == crop[:, None, None]).all(-1).all(-1).all(0).any()


def test_random_crop_matches_loop_reference():
    x = torch.arange(2 * 3 * 9 * 7, dtype=torch.int64).reshape(2, 3, 9, 7)
    out = random_crop(x, (4, 5), torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    top = torch.randint(0, 6, (2,), generator=g)
    left = torch.randint(0, 3, (2,), generator=g)
    for b in range(2):
        t, w = int(top[b]), int(left[b])
        assert torch.equal(out[b], x[b, :, t : t + 4, w : w + 5])


def test_folder_mismatched_sizes(tmp_path):
    root = tmp_path / "mixed"
    root.mkdir()
    Image.fromarray(_noise(32, 32, 3, 0)).save(root / "a.png")
    Image.fromarray(_noise(30, 40, 3, 1)).save(root / "b.png")
    with pytest.raises(DataError, match=r"b\.png is 30x40 but .*a\.png is 32x32") as e:
        load_dataset(str(root))
    _assert_one_line_data_error(e)
    assert load_dataset(str(root), resize=(16, 16)).images.shape == (2, 3, 16, 16)
    assert load_dataset(str(root), center_crop=24).images.shape == (2, 3, 24, 24)
    # A random crop alone keeps the common (smallest) central window of every image.
    ds = load_dataset(str(root), random_crop=16)
    assert ds.images.shape == (2, 3, 30, 32) and ds.image_size == (16, 16)
    with pytest.raises(DataError, match="random_crop 31x31"):
        load_dataset(str(root), random_crop=31)


def test_folder_train_test_subfolders(tmp_path):
    for split, n in (("train", 3), ("test", 2)):
        (tmp_path / "ds" / split).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(_noise(8, 8, 3, i)).save(tmp_path / "ds" / split / f"{i}.png")
    assert len(load_dataset(str(tmp_path / "ds"))) == 3
    assert len(load_dataset(str(tmp_path / "ds"), split="test")) == 2
    assert len(load_dataset("ds", split="test", data_dir=tmp_path)) == 2  # relative to data_dir
    with pytest.raises(DataError, match="no 'val' subfolder"):
        load_dataset(str(tmp_path / "ds"), split="val")


# --- ImageDataset -----------------------------------------------------------------------------


def test_image_dataset_batch_and_subset(mnist):
    ds = mnist["test"]
    idx = torch.tensor([3, 0, 9999])
    x = ds.batch(idx)
    assert x.shape == (3, 1, 28, 28) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert torch.equal(x, ds.images[idx].float() / 255)
    sub = ds.subset(10)
    assert len(sub) == 10 and torch.equal(sub.labels, ds.labels[:10]) and sub.name == "mnist"
    assert DATASET_NAMES == ("mnist", "fashion-mnist", "cifar10")
    with pytest.raises(ValueError, match="uint8"):
        ImageDataset(torch.zeros(2, 1, 4, 4), None, "x")


# --- save_image / load_image ------------------------------------------------------------------


def test_save_image_round_trip_and_atomic(tmp_path, monkeypatch):
    x = torch.rand(3, 12, 10, generator=torch.Generator().manual_seed(0))
    path = tmp_path / "out" / "img.png"
    save_image(x, path)
    assert torch.equal(load_image(path), (x * 255).round().to(torch.uint8))
    save_image(x, tmp_path / "img.webp")  # written lossless
    assert torch.equal(load_image(tmp_path / "img.webp"), load_image(path))
    save_image(torch.full((5, 5), 0.5), tmp_path / "gray.png")
    gray = load_image(tmp_path / "gray.png")
    assert gray.shape == (1, 5, 5) and (gray == 128).all()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["img.png"]

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(DataError, match="disk full"):
        save_image(torch.zeros(3, 12, 10), path)
    assert torch.equal(load_image(path), (x * 255).round().to(torch.uint8))  # untouched
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["img.png"]  # no temp file
    with pytest.raises(DataError, match="unknown image extension"):
        save_image(x, tmp_path / "img.xyz")


# --- user-facing errors -----------------------------------------------------------------------


def test_error_missing_dir(tmp_path):
    with pytest.raises(DataError, match="neither a dataset name") as e:
        load_dataset(str(tmp_path / "nope"))
    _assert_one_line_data_error(e, "mnist, fashion-mnist, cifar10")
    with pytest.raises(DataError, match="image folder not found"):
        list_images(tmp_path / "nope")


def test_error_empty_dir_and_no_images(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images") as e:
        load_dataset(str(tmp_path / "empty"))
    _assert_one_line_data_error(e, str(tmp_path / "empty"))
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match="no images"):
        load_dataset(str(tmp_path / "texts"))


def test_error_non_image_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="not a readable image") as e:
        load_image(tmp_path / "notes.txt")
    _assert_one_line_data_error(e, "notes.txt")
    with pytest.raises(DataError, match="image file not found"):
        load_image(tmp_path / "missing.png")
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(_noise(8, 8, 3, 0)).save(folder / "good.png")
    (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n but then garbage")
    # in RAM as streamed: an unreadable image is skipped with one warning line
    warnings = []
    data = load_folder(folder, warn=warnings.append)
    assert data.shape == (1, 3, 8, 8)
    assert warnings == ["warning: skipped bad.png: not a readable image"]
    Image.fromarray(_noise(64, 64, 3, 0)).save(folder / "bad.png")
    truncated = (folder / "bad.png").read_bytes()[:300]
    (folder / "bad.png").write_bytes(truncated)
    warnings.clear()
    assert len(load_folder(folder, warn=warnings.append)) == 1
    assert len(warnings) == 1 and warnings[0].startswith("warning: skipped bad.png: ")
    (folder / "good.png").unlink()
    with pytest.raises(DataError, match="no readable image") as e:
        load_dataset(str(folder))
    _assert_one_line_data_error(e)


def test_error_named_dataset_not_found_offline(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", data_dir=tmp_path)
    _assert_one_line_data_error(e, "'cifar10'", "--data-dir", "--download", str(tmp_path))
    with pytest.raises(DataError, match="split must be one of"):
        load_dataset("mnist", split="validation")


def _offline(*args, **kwargs):
    raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))


def test_download_offline_message(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", _offline)
    with pytest.raises(DataError) as e:
        load_dataset("fashion-mnist", data_dir=tmp_path, download=True)
    _assert_one_line_data_error(
        e, "download of fashion-mnist", "failed", "name resolution", "--data-dir"
    )
    assert not any((tmp_path / "cache").rglob("*.part"))


def _serve(monkeypatch, name: str, folder: Path, files, extract=None) -> None:
    source = dl.Source(folder.as_uri() + "/", tuple(files), extract)
    monkeypatch.setitem(dl.SOURCES, name, source)


def test_download_md5_verification(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    payload = gzip.compress(b"not really mnist")
    (mirror / "train-images-idx3-ubyte.gz").write_bytes(payload)
    cache = tmp_path / "cache"
    _serve(monkeypatch, "mnist", mirror, [("train-images-idx3-ubyte.gz", "0" * 32)])
    with pytest.raises(DataError, match="checksum mismatch") as e:
        dl.download("mnist", cache)
    _assert_one_line_data_error(e, "expected " + "0" * 32)
    assert list((cache / "mnist").iterdir()) == []  # no partial or unverified file left

    md5 = dl.md5sum(mirror / "train-images-idx3-ubyte.gz")
    _serve(monkeypatch, "mnist", mirror, [("train-images-idx3-ubyte.gz", md5)])
    assert dl.download("mnist", cache) == cache / "mnist"
    assert (cache / "mnist" / "train-images-idx3-ubyte.gz").read_bytes() == payload
    monkeypatch.setattr(urllib.request, "urlopen", _offline)
    assert dl.download("mnist", cache) == cache / "mnist"  # cached + verified: no network


def _tarball(path: Path, members: dict[str, bytes]) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return dl.md5sum(path)


def test_download_cifar_archive_then_load(tmp_path, monkeypatch, synthetic_cifar):
    batches, (train_x, train_y, *_) = synthetic_cifar
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    members = {f"cifar-10-batches-py/{p.name}": p.read_bytes() for p in batches.iterdir()}
    md5 = _tarball(mirror / "cifar-10-python.tar.gz", members)
    _serve(monkeypatch, "cifar10", mirror, [("cifar-10-python.tar.gz", md5)], extract=batches.name)
    ds = load_dataset("cifar10", download=True)  # cache is $VQVAE_CACHE = tmp_path/cache
    assert torch.equal(ds.images, torch.from_numpy(train_x))
    assert ds.labels.tolist() == train_y.tolist()
    cached = tmp_path / "cache" / "cifar10"
    assert sorted(p.name for p in cached.iterdir()) == ["cifar-10-batches-py"]
    monkeypatch.setattr(urllib.request, "urlopen", _offline)
    assert len(load_dataset("cifar10")) == 50  # now found in the cache, offline


def test_download_rejects_unsafe_archive(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    md5 = _tarball(mirror / "cifar-10-python.tar.gz", {"../escape.txt": b"x"})
    _serve(monkeypatch, "cifar10", mirror, [("cifar-10-python.tar.gz", md5)], "cifar-10-batches-py")
    with pytest.raises(DataError, match="unsafe member '../escape.txt'"):
        dl.download("cifar10", tmp_path / "cache")
    assert not (tmp_path / "cache" / "escape.txt").exists()


def test_default_cache_dir(monkeypatch, tmp_path):
    assert dl.default_cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("VQVAE_CACHE")
    assert dl.default_cache_dir() == Path.home() / ".cache" / "vqvae"
