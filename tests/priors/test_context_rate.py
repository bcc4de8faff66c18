"""Code assignment under a prior's code lengths in context (``vqvae train --rate-prior``),
saved with the model (``vqvae.models.assignment``) and chosen by ``vqvae.rate``."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from vqvae import VQVAE, QuantizerConfig, build_quantizer
from vqvae.cli import main
from vqvae.codec import compress, decompress_indices, encode_indices, load
from vqvae.data import load_dataset
from vqvae.data.codes import load_codes
from vqvae.errors import CheckpointError
from vqvae.models.assignment import ContextAssignment
from vqvae.priors import PriorConfig, TransformerPrior, greedy, load_prior
from vqvae.priors.rate import PriorRate
from vqvae.quantizers import distance, nearest_code

K, D = 16, 4
TINY = ["--code-dim", "4", "--hidden", "16", "--res-channels", "8", "--res-blocks", "1"]
TINY += ["--batch-size", "32", "--train-subset", "64", "--eval-subset", "32", "--no-progress"]
TINY += ["--codebook-size", str(K), "--seed", "3"]
DIGITS = str(Path(__file__).parents[2] / "examples" / "digits")
PRIOR = ["--n-layer", "1", "--n-embd", "16", "--n-head", "2"]


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_prior(side=3) -> TransformerPrior:
    config = PriorConfig(
        codebook_size=K, height=side, width=side, num_classes=0, n_layer=2, n_head=2, n_embd=16
    )
    return TransformerPrior(config).eval()


def quantizer(**options):
    config = QuantizerConfig(
        kind="ema", codebook_size=K, code_dim=D, kmeans_init=False, options=options
    )
    return build_quantizer(config).eval()


def brute_distances(q, z_e):
    flat = z_e.movedim(1, -1).double()  # (B, h, w, D)
    return ((flat[..., None, :] - q.weight.double()) ** 2).sum(-1)  # (B, h, w, K)


def brute_bits(prior, codes):
    """-log2 p(k | codes before t) for every position t, each from its own prefix pass."""
    b, h, w = codes.shape
    tokens = torch.cat([prior.start_tokens(b), codes.flatten(1)], 1)
    bits = torch.empty(b, h * w, K)
    for t in range(h * w):
        logits = prior.forward_tokens(tokens[:, : t + 1], 0, (h, w))[:, -1]
        bits[:, t] = -F.log_softmax(logits.double(), -1).float() / math.log(2)
    return bits.view(b, h, w, K)


def test_code_bits_are_the_priors_code_lengths_in_context():
    prior = tiny_prior()
    codes = torch.randint(0, K, (4, 3, 3))
    with torch.no_grad():
        torch.testing.assert_close(PriorRate(prior).bits(codes), brute_bits(prior, codes))


@pytest.mark.parametrize("passes", [1, 2])
def test_costs_use_the_previous_rounds_codes_as_context(passes):
    prior, q = tiny_prior(), quantizer(rate_weight=0.1)
    z_e = torch.randn(5, D, 3, 3)
    base = brute_distances(q, z_e) + q.rate_bias().double()
    codes = base.argmin(-1)
    with torch.no_grad():
        for _ in range(passes):
            expected = 0.7 * brute_bits(prior, codes)
            codes = (base + expected.double()).argmin(-1)
    cost = ContextAssignment(prior, 0.7, passes=passes).cost(q, z_e)
    torch.testing.assert_close(cost, expected, rtol=1e-4, atol=1e-4)
    # The quantizer then picks exactly the round's codes.
    assert torch.equal(q(z_e, cost).indices, codes)


def test_huge_weight_and_one_pass_per_position_give_the_priors_greedy_map():
    prior, q = tiny_prior(), quantizer()
    z_e = torch.randn(3, D, 3, 3)
    cost = ContextAssignment(prior, 1e6, passes=9).cost(q, z_e)  # one more position a round
    with torch.no_grad():
        assert torch.equal(q(z_e, cost).indices, greedy(prior, 3, (3, 3)))


def test_quantizer_adds_code_cost_to_distance_and_rate_bias():
    q = quantizer(rate_weight=0.3)
    z_e, cost = torch.randn(2, D, 4, 3), 2 * torch.rand(2, 4, 3, K)
    expected = (brute_distances(q, z_e) + q.rate_bias().double() + cost.double()).argmin(-1)
    assert torch.equal(q(z_e, cost).indices, expected)
    assert not torch.equal(q(z_e).indices, expected)  # the cost changed some choices
    with pytest.raises(ValueError, match="code_cost must have shape"):
        q(z_e, cost[:, :3])


def test_nearest_code_with_per_row_bias_in_chunks(monkeypatch):
    z, codebook, bias = torch.randn(300, 4), torch.randn(K, 4), torch.rand(300, K)
    expected = (torch.cdist(z.double(), codebook.double()) ** 2 + bias.double()).argmin(1)
    assert torch.equal(nearest_code(z, codebook, bias), expected)
    monkeypatch.setattr(distance, "_MAX_ELEMENTS", K * 7)  # 7 rows per chunk
    assert torch.equal(nearest_code(z, codebook, bias), expected)


def test_refuses_what_it_cannot_serve():
    prior = tiny_prior()
    with pytest.raises(ValueError, match="single-codebook"):
        fsq = build_quantizer(QuantizerConfig(kind="fsq", codebook_size=K, code_dim=2,
                                              options={"levels": [4, 4]}))  # fmt: skip
        ContextAssignment(prior, 0.5).check(fsq)
    other = build_quantizer(QuantizerConfig(kind="ema", codebook_size=8, code_dim=D))
    with pytest.raises(ValueError, match="models 16 codes"):
        ContextAssignment(prior, 0.5).check(other)
    for weight in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="finite number > 0"):
            ContextAssignment(prior, weight)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    run = tmp_path_factory.mktemp("rate") / "source"
    assert main(["train", "--out", str(run), "--epochs", "1", *TINY]) == 0
    assert main(["train-prior", str(run), "--max-steps", "2", *PRIOR]) == 0
    return run


def test_train_under_a_rate_prior(source, tmp_path, capsys):
    out = tmp_path / "ctx"
    argv = ["train", "--out", str(out), "--init-from", str(source), "--max-steps", "3"]
    argv += ["--rate-prior", str(source), "--rate-prior-weight", "0.5", *TINY]
    assert main(argv) == 0
    train = json.loads((out / "config.json").read_text())["train"]
    assert train["rate_prior"] == str(source.resolve()) and train["rate_prior_weight"] == 0.5
    assert load_prior(source) is not None  # the source's prior is untouched

    # The rule is saved with the model: the prior copied in, restored by from_pretrained.
    saved = json.loads((out / "config.json").read_text())["assignment"]
    assert saved == {"rule": "context", "weight": 0.5, "passes": 2, "prior": "rate_prior"}
    assert (out / "rate_prior" / "model.safetensors").is_file()
    model = VQVAE.from_pretrained(out)
    assert model.assignment.weight == 0.5 and VQVAE.from_pretrained(source).assignment is None
    codes = tmp_path / "codes"
    assert main(["encode-dataset", str(out), "--dataset", DIGITS, "--out-dir", str(codes)]) == 0
    x = load_dataset(DIGITS, "test").batch(torch.arange(4))
    cached = load_codes(codes, "test").batch(torch.arange(4))[0]
    assert torch.equal(cached, model.encode(x))
    nearest = model.quantizer(model.encode_latents(x)).indices
    assert not torch.equal(cached, nearest)  # the rule changed some codes
    codec = load(out)
    blob = compress(codec, x[0])
    assert torch.equal(decompress_indices(blob, codec)[1], model.encode(x[:1])[0])
    exact = encode_indices(codec, x[0], rd_lambda=0.5)  # the sequential choice, coder's tables
    assert torch.equal(decompress_indices(compress(codec, x[0], rd_lambda=0.5), codec)[1], exact)
    # Images larger than the rate prior's maps: a one-line error (the codec tiles them).
    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((56, 56), np.uint8)).save(big)
    capsys.readouterr()
    assert main(["encode", str(out), str(big), "-o", str(tmp_path / "c.npy")]) == 2
    err = capsys.readouterr().err
    assert "rate prior" in err and err.count("\n") == 1, err
    assert len(compress(codec, str(big), tile=28)) > 0


def test_train_decoder_keeps_the_rate_prior_assignment(source, tmp_path):
    ctx = tmp_path / "ctx"
    argv = ["train", "--out", str(ctx), "--init-from", str(source), "--max-steps", "2"]
    assert main([*argv, "--rate-prior", str(source), "--rate-prior-weight", "0.5", *TINY]) == 0
    dec = tmp_path / "dec"
    assert main(["train-decoder", str(ctx), "--out", str(dec), "--max-steps", "2",
                 "--no-progress"]) == 0  # fmt: skip
    # The frozen codes are the source's, chosen under its rate prior (copied along).
    assert json.loads((dec / "config.json").read_text())["assignment"]["weight"] == 0.5
    x = load_dataset(DIGITS, "test").batch(torch.arange(4))
    src, new = VQVAE.from_pretrained(ctx), VQVAE.from_pretrained(dec)
    assert new.assignment is not None and torch.equal(new.encode(x), src.encode(x))


def test_an_older_run_whose_rate_prior_is_elsewhere_is_one_line(source, tmp_path, capsys):
    """Runs written before the rule was saved name their rate prior's run dir instead: read
    only inside the run dir, never from a path a config.json points at elsewhere."""
    moved = tmp_path / "moved"
    shutil.copytree(source, moved)
    out = tmp_path / "ctx"
    argv = ["train", "--out", str(out), "--init-from", str(moved), "--max-steps", "1"]
    assert main([*argv, "--rate-prior", str(moved), "--rate-prior-weight", "0.5", *TINY]) == 0
    config = json.loads((out / "config.json").read_text())
    del config["assignment"]  # the older layout: train.rate_prior names another run dir
    (out / "config.json").write_text(json.dumps(config))
    shutil.rmtree(out / "rate_prior")
    shutil.copytree(moved, out / "old_prior")
    config["train"]["rate_prior"] = "old_prior"  # inside the run dir: read
    (out / "config.json").write_text(json.dumps(config))
    assert VQVAE.from_pretrained(out).assignment.weight == 0.5
    for elsewhere in (str(moved), "../moved"):  # outside it: refused, one line
        config["train"]["rate_prior"] = elsewhere
        (out / "config.json").write_text(json.dumps(config))
        capsys.readouterr()
        argv = ["encode-dataset", str(out), "--dataset", DIGITS, "--out-dir", str(tmp_path / "c")]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "outside the run directory" in err and err.count("\n") == 1, err
        assert not (tmp_path / "c").exists()
    config["assignment"] = {"rule": "context", "prior": "../moved/prior", "weight": 0.5}
    (out / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="outside the run directory"):
        VQVAE.from_pretrained(out)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--rate-prior", "{source}"], "go together"),
        (["--rate-prior-weight", "0.5"], "go together"),
        (["--rate-prior", "{source}", "--rate-prior-weight", "-1"], "finite number > 0"),
        (["--rate-prior", "{bare}", "--rate-prior-weight", "0.5"], "no prior"),
        (["--rate-prior", "{source}", "--rate-prior-weight", "0.5", "--codebook-size", "8"],
         "models 16 codes"),
    ],
)  # fmt: skip
def test_bad_rate_prior_is_one_line(source, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    bare = tmp_path / "bare"
    assert main(["train", "--out", str(bare), "--max-steps", "1", *TINY]) == 0
    capsys.readouterr()
    extra = [e.format(source=source, bare=bare) for e in extra]
    assert main(["train", "--out", str(out), "--max-steps", "1", *TINY, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not out.exists()
