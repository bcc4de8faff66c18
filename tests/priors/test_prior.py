"""The autoregressive prior: causality, KV cache, sampling, completion, persistence, codes."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vqvae import VQVAE, QuantizerConfig, VQVAEConfig
from vqvae.cli import main
from vqvae.data.codes import encode_dataset, load_codes
from vqvae.data.datasets import ImageDataset
from vqvae.errors import CheckpointError
from vqvae.priors import (
    PriorConfig,
    TransformerPrior,
    complete,
    greedy,
    has_prior,
    load_prior,
    sample,
)
from vqvae.train.prior import PriorTrainConfig, evaluate_prior, train_prior

DIGITS = sorted(str(p) for p in (Path(__file__).parents[2] / "examples" / "digits").glob("*.png"))
K = 16


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_prior(positions="2d", num_classes=3, **kw) -> TransformerPrior:
    config = PriorConfig(
        codebook_size=K,
        height=4,
        width=5,
        num_classes=num_classes,
        n_layer=2,
        n_head=2,
        n_embd=32,
        positions=positions,
        **kw,
    )
    return TransformerPrior(config).eval()


@pytest.mark.parametrize("positions", ["1d", "2d"])
def test_prior_is_causal(positions):
    prior = tiny_prior(positions)
    x = torch.randint(0, K, (3, 4, 5))
    logits = prior(x, torch.tensor([0, 1, -1])).flatten(1, 2)  # (B, N, K)
    for t in [0, 7, 19]:
        y = x.clone().flatten(1)
        y[:, t] = (y[:, t] + 1) % K  # change the code at raster position t
        changed = prior(y.view_as(x), torch.tensor([0, 1, -1])).flatten(1, 2)
        # position t's own prediction and everything before it cannot see code t
        assert torch.equal(changed[:, : t + 1], logits[:, : t + 1])
        if t + 1 < 20:
            assert not torch.allclose(changed[:, t + 1], logits[:, t + 1])


def test_label_changes_every_position():
    prior = tiny_prior()
    x = torch.randint(0, K, (1, 4, 5))
    a, b = prior(x, 0), prior(x, 2)
    assert not torch.allclose(a[0, 0, 0], b[0, 0, 0])


def test_kv_cache_matches_full_pass():
    prior = tiny_prior()
    x = torch.randint(0, K, (2, 4, 5))
    full = prior(x, 1).flatten(1, 2)
    cache = prior.new_cache()
    tokens = torch.cat([prior.start_tokens(2, 1), x.flatten(1)[:, :-1]], 1)
    first = prior.forward_tokens(tokens[:, :6], 0, (4, 5), cache)  # a prefill, then one by one
    steps = [first] + [
        prior.forward_tokens(tokens[:, t : t + 1], t, (4, 5), cache) for t in range(6, 20)
    ]
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)


def _reference_greedy(prior, n, label):
    """Argmax decoding with full teacher-forced passes (no cache): an independent path."""
    x = torch.zeros(n, 4, 5, dtype=torch.long)
    for t in range(20):
        x.view(n, -1)[:, t] = prior(x, label).flatten(1, 2)[:, t].argmax(-1)
    return x


def test_top_k_1_equals_greedy():
    torch.manual_seed(1)
    prior = tiny_prior()
    g = greedy(prior, 3, labels=2)
    assert torch.equal(g, _reference_greedy(prior, 3, 2))
    gen = torch.Generator().manual_seed(5)
    assert torch.equal(sample(prior, 3, labels=2, top_k=1, generator=gen), g)
    gen = torch.Generator().manual_seed(5)
    hot = sample(prior, 3, labels=2, top_k=1, temperature=3.0, generator=gen)
    assert torch.equal(hot, g)


def test_sample_shapes_seeds_and_top_k():
    prior = tiny_prior()
    a = sample(
        prior,
        6,
        labels=torch.tensor([0, 1, 2, -1, 0, 1]),
        generator=torch.Generator().manual_seed(0),
    )
    b = sample(
        prior,
        6,
        labels=torch.tensor([0, 1, 2, -1, 0, 1]),
        generator=torch.Generator().manual_seed(0),
    )
    assert a.shape == (6, 4, 5) and a.dtype == torch.long
    assert torch.equal(a, b)
    assert int(a.min()) >= 0 and int(a.max()) < K
    small = sample(prior, 4, shape=(2, 3))
    assert small.shape == (4, 2, 3)
    with pytest.raises(ValueError):
        sample(prior, 1, shape=(5, 5))
    with pytest.raises(ValueError):
        sample(prior, 1, labels=3)
    with pytest.raises(ValueError):
        sample(prior, 1, temperature=0.0)
    # top_k=2: every sampled code is among the two most likely at its step
    codes = sample(prior, 8, top_k=2, generator=torch.Generator().manual_seed(3))
    ranks = prior(codes).argsort(-1, descending=True)
    assert bool((ranks[..., :2] == codes[..., None]).any(-1).all())


@pytest.mark.parametrize("candidates", [1, 4])
def test_complete_keeps_visible_codes(candidates):
    prior = tiny_prior()
    x = torch.randint(0, K, (4, 5))
    keep = torch.zeros(4, 5, dtype=torch.bool)
    keep[:, :2] = True
    keep[3, 4] = True  # a visible code after missing ones
    out = complete(
        prior, x, keep, 5, candidates=candidates, generator=torch.Generator().manual_seed(0)
    )
    assert out.shape == (5, 4, 5)
    assert bool((out[:, keep] == x[keep]).all())


def test_nll_bits_matches_manual_cross_entropy():
    prior = tiny_prior()
    x = torch.randint(0, K, (2, 4, 5))
    logp = torch.log_softmax(prior(x).double(), -1)
    manual = -logp.gather(-1, x[..., None])[..., 0].sum((1, 2)) / np.log(2)
    torch.testing.assert_close(prior.nll_bits(x).double(), manual, atol=1e-3, rtol=1e-5)


def _vqvae_run(tmp_path, dataset="mnist") -> Path:
    config = VQVAEConfig(
        hidden_channels=16,
        res_channels=8,
        num_res_blocks=1,
        quantizer=QuantizerConfig(codebook_size=K, code_dim=4, kmeans_init=False),
    )
    run = tmp_path / "run"
    VQVAE(config).save_pretrained(run, extra={"train": {"dataset": dataset}})
    return run


def _random_dataset(n=40, classes=3):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    return ImageDataset(images, torch.arange(n) % classes, "random")


def test_codes_round_trip(tmp_path):
    run = _vqvae_run(tmp_path)
    model = VQVAE.from_pretrained(run)
    data = _random_dataset()
    encode_dataset(model, data, tmp_path / "codes", "train", "abc")
    codes = load_codes(tmp_path / "codes", "train")
    assert codes.indices.dtype == np.uint16 and codes.shape == (7, 7)
    expected = model.encode(data.batch(torch.arange(len(data))))
    assert torch.equal(torch.from_numpy(codes.indices.astype(np.int64)), expected)
    assert torch.equal(codes.labels, data.labels)
    meta = json.loads((tmp_path / "codes" / "train.json").read_text())
    assert meta["shape"] == [40, 7, 7] and meta["codebook_size"] == K
    (tmp_path / "codes" / "train.codes").write_bytes(b"\0" * 10)
    with pytest.raises(Exception, match="size does not match"):
        load_codes(tmp_path / "codes", "train")


def test_train_save_load_prior(tmp_path):
    run = _vqvae_run(tmp_path)
    model = VQVAE.from_pretrained(run)
    encode_dataset(model, _random_dataset(), tmp_path / "codes", "train")
    codes = load_codes(tmp_path / "codes", "train")
    config = PriorConfig(codebook_size=K, num_classes=3, n_layer=1, n_head=2, n_embd=16)
    before = evaluate_prior(TransformerPrior(config), codes)
    result = train_prior(
        config,
        PriorTrainConfig(epochs=15, batch_size=20, warmup_steps=1),
        codes,
        codes,
        run,
        log=lambda _: None,
    )
    assert has_prior(run)
    assert result["bits_per_image"] < before
    prior = load_prior(run)
    assert prior.config == config
    torch.testing.assert_close(evaluate_prior(prior, codes), result["bits_per_image"])
    # a prior left behind by other VQ-VAE weights is refused
    VQVAE(model.config).save_pretrained(run)
    with pytest.raises(CheckpointError, match="other VQ-VAE weights"):
        load_prior(run)


def test_cli_prior_end_to_end(tmp_path, capsys):
    run = _vqvae_run(tmp_path)
    codes = tmp_path / "codes"
    digits = str(Path(DIGITS[0]).parent)
    assert main(["encode-dataset", str(run), "--dataset", digits, "--out-dir", str(codes)]) == 0
    assert main(["sample", str(run), "-n", "4", "-o", str(tmp_path / "s.png")]) == 2
    assert "no prior" in capsys.readouterr().err
    args = [
        "--codes",
        str(codes),
        "--max-steps",
        "3",
        "--n-layer",
        "1",
        "--n-embd",
        "16",
        "--n-head",
        "2",
    ]
    assert main(["train-prior", str(run), *args]) == 0
    capsys.readouterr()
    assert main(["eval-prior", str(run), "--codes", str(codes), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"bits_per_code", "bits_per_image", "bits_per_dim"}
    assert result["bits_per_image"] == pytest.approx(49 * result["bits_per_code"])
    assert result["bits_per_dim"] == pytest.approx(result["bits_per_image"] / 784)
    grid = tmp_path / "grid.png"
    assert (
        main(["sample", str(run), "-n", "6", "--top-k", "3", "--seed", "1", "-o", str(grid)]) == 0
    )
    assert grid.is_file()
    assert (
        main(
            [
                "complete",
                str(run),
                DIGITS[0],
                "--keep",
                "top",
                "-n",
                "3",
                "-o",
                str(tmp_path / "c.png"),
            ]
        )
        == 0
    )
    assert (tmp_path / "c.png").is_file()
    mask = tmp_path / "mask.png"
    from PIL import Image

    m = np.zeros((28, 28), np.uint8)
    m[:, :12] = 255
    Image.fromarray(m).save(mask)
    assert (
        main(
            [
                "complete",
                str(run),
                DIGITS[1],
                "--keep",
                str(mask),
                "-n",
                "2",
                "-o",
                str(tmp_path / "m.png"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    for bad in (
        ["sample", str(run), "-n", "4", "--label", "3", "-o", str(grid)],  # unconditional prior
        ["sample", str(run), "-n", "4", "--top-k", "0", "-o", str(grid)],
        ["sample", str(run), "-n", "4", "--temperature", "-1", "-o", str(grid)],
        ["complete", str(run), DIGITS[0], "--keep", "nowhere.png", "-o", str(grid)],
        ["eval-prior", str(tmp_path / "missing")],
        ["train-prior", str(run), "--codes", str(codes), "--epochs", "0"],
    ):
        assert main(bad) == 2, bad
        err = capsys.readouterr().err
        assert err.startswith("vqvae: error:") and err.count("\n") == 1, err


def test_train_prior_refuses_multi_stage_runs(tmp_path, capsys):
    config = VQVAEConfig(
        hidden_channels=16,
        res_channels=8,
        num_res_blocks=1,
        quantizer=QuantizerConfig(
            kind="rvq", codebook_size=K, code_dim=4, options={"num_stages": 2}
        ),
    )
    run = tmp_path / "rvq"
    VQVAE(config).save_pretrained(run, extra={"train": {"dataset": "mnist"}})
    assert main(["train-prior", str(run), "--max-steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "single-stage" in err and err.count("\n") == 1
