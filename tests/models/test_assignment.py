"""One way to choose codes: a ``--rate-prior`` run gives the same codes on every path that
encodes (Python, every CLI command, the codec), with its source run deleted."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import vqvae.cli.complete as complete_cli
from vqvae import VQVAE
from vqvae.cli import main
from vqvae.codec import compress, decompress_indices, encode_indices, load
from vqvae.data import load_image, save_image
from vqvae.data.codes import load_codes
from vqvae.metrics import psnr
from vqvae.rate import choose_codes, parallel_cost, unigram_bits

K = 16
TINY = ["--code-dim", "4", "--hidden", "16", "--res-channels", "8", "--res-blocks", "1"]
TINY += ["--batch-size", "32", "--train-subset", "64", "--eval-subset", "32", "--no-progress"]
TINY += ["--codebook-size", str(K), "--seed", "3", "--device", "cpu"]
PRIOR = ["--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--max-steps", "2"]
DIGITS = Path(__file__).parents[2] / "examples" / "digits"

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A run trained under a rate prior, with a prior of its own; its source run deleted."""
    root = tmp_path_factory.mktemp("assignment")
    source, ctx = root / "source", root / "ctx"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["train", "--out", str(source), "--max-steps", "4", *TINY]) == 0
        assert main(["train-prior", str(source), "--dataset", str(DIGITS), *PRIOR]) == 0
        argv = ["train", "--out", str(ctx), "--init-from", str(source), "--max-steps", "2"]
        assert main([*argv, "--rate-prior", str(source), "--rate-prior-weight", "2", *TINY]) == 0
        shutil.rmtree(source)
        assert main(["train-prior", str(ctx), "--dataset", str(DIGITS), *PRIOR]) == 0
    finally:
        torch.set_num_threads(threads)
    return ctx


@pytest.fixture(scope="module")
def images() -> tuple[list[str], torch.Tensor]:
    paths = sorted(str(p) for p in DIGITS.glob("*.png"))
    return paths, torch.stack([load_image(p).float().div(255) for p in paths])


def rendered(x: torch.Tensor, tmp_path: Path, name: str) -> np.ndarray:
    """What save_image writes for ``x`` (C, H, W), read back."""
    save_image(x, tmp_path / name)
    return np.asarray(Image.open(tmp_path / name))


def test_every_path_gives_the_models_own_codes(run, images, tmp_path, monkeypatch, capsys):
    paths, x = images
    model = VQVAE.from_pretrained(run)
    assert model.assignment is not None and model.assignment.weight == 2.0
    codes = model.encode(x)  # (N, h, w)
    nearest = model.quantizer(model.encode_latents(x)).indices
    assert not torch.equal(codes, nearest)  # the rule matters for these images
    x_hat = model.decode(codes).clamp(0, 1)

    # vqvae encode
    assert main(["encode", str(run), *paths, "-o", str(tmp_path / "c.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "c.npy"), codes.numpy())
    # vqvae encode-dataset
    out = tmp_path / "codes"
    assert main(["encode-dataset", str(run), "--dataset", str(DIGITS), "--out-dir", str(out)]) == 0
    assert torch.equal(load_codes(out, "test").batch(torch.arange(len(paths)))[0], codes)
    # vqvae fit-entropy: the counts of exactly these codes
    assert main(["fit-entropy", str(run), "--dataset", str(DIGITS)]) == 0
    counts = json.loads((run / "entropy.json").read_text())["counts"]
    assert counts == torch.bincount(codes.flatten(), minlength=K).tolist()
    # vqvae eval: the reconstruction from these codes
    capsys.readouterr()
    assert main(["eval", str(run), "--dataset", str(DIGITS), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["psnr"] == pytest.approx(float(psnr(x, model.decode(codes)).mean()), abs=1e-4)
    # vqvae reconstruct and denoise write the decoded codes
    assert main(["reconstruct", str(run), paths[0], "--out-dir", str(tmp_path / "rec")]) == 0
    stem = Path(paths[0]).stem
    written = np.asarray(Image.open(tmp_path / "rec" / f"{stem}_reconstruction.png"))
    assert np.array_equal(written, rendered(x_hat[0], tmp_path, "a.png"))
    assert main(["denoise", str(run), paths[0], "--out-dir", str(tmp_path / "den")]) == 0
    written = np.asarray(Image.open(tmp_path / "den" / f"{stem}.png"))
    assert np.array_equal(written, rendered(x_hat[0], tmp_path, "b.png"))
    # vqvae complete conditions the prior on these codes
    seen = []
    real = complete_cli.complete
    monkeypatch.setattr(
        complete_cli,
        "complete",
        lambda prior, idx, *a, **k: seen.append(idx) or real(prior, idx, *a, **k),
    )
    argv = ["complete", str(run), paths[0], "--keep", "top", "-n", "1", "--candidates", "1"]
    assert main([*argv, "-o", str(tmp_path / "grid.png")]) == 0
    assert torch.equal(seen[0], codes[0])
    # vqvae compress and the codec API, with the run's prior and its static model
    for entropy in ("prior", "static"):
        codec = load(run, entropy)
        for i in (0, 1):
            assert torch.equal(encode_indices(codec, paths[i]), codes[i])
            blob = compress(codec, paths[i])
            assert torch.equal(decompress_indices(blob, codec)[1], codes[i])
    assert main(["compress", str(run), paths[0], "-o", str(tmp_path / "a.vqz")]) == 0
    blob = (tmp_path / "a.vqz").read_bytes()
    assert torch.equal(decompress_indices(blob, load(run))[1], codes[0])


# ---- the rule itself against references ------------------------------------------------------


class TableBits:
    """A rate model from a fixed (h, w, K) table whose bits at position t are shifted by the
    code chosen at t - 1 (a toy context model, for the sequential choice)."""

    def __init__(self, table: torch.Tensor) -> None:
        self.table = table

    def bits(self, codes, positions=None):
        h, w, k = self.table.shape
        flat = self.table.reshape(-1, k)
        prev = torch.cat([torch.zeros(1, dtype=torch.long), codes.flatten()[:-1]])
        rows = torch.as_tensor(positions)
        return flat[rows] + 0.1 * prev[rows, None].double()


def test_sequential_choice_equals_a_position_by_position_loop():
    g = torch.Generator().manual_seed(0)
    distances = torch.rand(3, 4, 5, generator=g, dtype=torch.float64)
    rate = TableBits(torch.rand(3, 4, 5, generator=g, dtype=torch.float64) * 3)
    order = [np.array([p]) for p in range(12)]
    got = choose_codes(distances, rate, 0.7, order=order)
    expected = torch.zeros(12, dtype=torch.long)
    flat = distances.reshape(12, 5)
    expected[:] = flat.argmin(1)
    for p in range(12):
        bits = rate.bits(expected.view(3, 4), np.array([p]))[0]
        expected[p] = (flat[p] + 0.7 * bits).argmin()
    assert torch.equal(got.flatten(), expected)
    assert torch.equal(choose_codes(distances, rate, 0.0, order=order), distances.argmin(-1))


def test_parallel_choice_and_unigram_bits():
    usage = torch.tensor([3.0, 1.0, 0.0, 4.0])
    expected = -np.log2((usage.numpy() + 0.5) / (usage.numpy() + 0.5).sum())
    np.testing.assert_allclose(unigram_bits(usage, 0.5).numpy(), expected)

    class Unigram:
        def bits(self, codes, positions=None):
            return unigram_bits(usage, 0.5).float().expand(*codes.shape, 4)

    distances = torch.rand(2, 3, 3, 4)
    cost = parallel_cost(distances, Unigram(), 0.25, passes=3)
    torch.testing.assert_close(cost, 0.25 * unigram_bits(usage, 0.5).float().expand_as(cost))
    chosen = choose_codes(distances, Unigram(), 0.25)
    assert torch.equal(chosen, (distances + cost).argmin(-1))
    with pytest.raises(ValueError, match="finite number >= 0"):
        choose_codes(distances, Unigram(), float("nan"))
