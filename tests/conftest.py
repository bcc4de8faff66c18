import os
from pathlib import Path

import numpy as np
import pytest
import torch

# No progress lines on stderr in tests (they check stderr); tests/test_progress.py turns
# them on where it checks them.
os.environ.setdefault("VQVAE_QUIET", "1")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def one_thread():
    """One intra-op thread for the test: tiny matrices run fastest so, whatever the load."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only datasets beside the checkout (override with VQVAE_TEST_DATA)."""
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    path = Path(os.environ.get("VQVAE_TEST_DATA", default))
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path}")
    return path


def write_idx(folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    """An MNIST-style dataset (raw IDX files ``PREFIX-images/labels-idx?-ubyte``) of uint8
    images (N, H, W) and labels (N,): a small stand-in for a named dataset."""
    folder.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    header = np.array([0x803, n, h, w], dtype=">u4").tobytes()
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(header + images.tobytes())
    header = np.array([0x801, n], dtype=">u4").tobytes()
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(header + labels.astype(np.uint8).tobytes())
