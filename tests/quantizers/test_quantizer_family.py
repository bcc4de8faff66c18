"""The quantizer family (issue 7): FSQ, residual, grouped, cosine, rotation trick, entropy."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from vqvae import VQVAE, QuantizerConfig, VQVAEConfig, build_quantizer
from vqvae.cli import main
from vqvae.evaluation import evaluate
from vqvae.quantizers import (
    FiniteScalarQuantizer,
    entropy_penalty,
    fsq_levels_for,
    quantizer_names,
    rotate_to,
)

# One config per kind (and per estimator / regulariser option), all small.
VARIANTS = {
    "vq": dict(kind="vq"),
    "ema": dict(kind="ema"),
    "vq-rotation": dict(kind="vq", options={"rotation_trick": True}),
    "ema-rotation": dict(kind="ema", options={"rotation_trick": True}),
    "ema-entropy": dict(kind="ema", options={"entropy_weight": 0.1}),
    "vq-entropy": dict(kind="vq", options={"entropy_weight": 0.1}),
    "cosine": dict(kind="cosine", options={"lookup_dim": 4}),
    "fsq": dict(kind="fsq", codebook_size=60, options={"levels": [3, 4, 5]}),
    "rvq": dict(kind="rvq", options={"num_stages": 3}),
    "rvq-vq-dropout": dict(
        kind="rvq", options={"num_stages": 3, "stage_kind": "vq", "dropout": 1.0}
    ),
    "grouped": dict(kind="grouped", options={"groups": 2}),
}


def make(variant: str, k: int = 16, d: int = 8, **kw) -> torch.nn.Module:
    settings = {"codebook_size": k, "code_dim": d, "dead_code_threshold": 0.1, **VARIANTS[variant]}
    settings.update(kw)
    return build_quantizer(QuantizerConfig(**settings))


def test_every_registered_kind_is_covered():
    assert {v["kind"] for v in VARIANTS.values()} == set(quantizer_names())


# ---- FSQ -------------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [[3], [3, 4, 5], [8, 5, 5, 5], [4, 4, 8, 8]])
def test_fsq_index_code_bijection(levels):
    k = math.prod(levels)
    q = build_quantizer(
        QuantizerConfig(
            kind="fsq", codebook_size=k, code_dim=len(levels), options={"levels": levels}
        )
    )
    ids = torch.arange(k)
    codes = q.indices_to_codes(ids)  # (K, n)
    assert codes.shape == (k, len(levels))
    assert codes.abs().max() <= 1
    assert torch.unique(codes, dim=0).shape[0] == k  # injective: K distinct grid points
    assert torch.equal(q.codes_to_indices(codes), ids)  # and inverted exactly
    # per channel, exactly L_i values are reachable from any input
    z = 10 * torch.randn(4096, len(levels))
    out = q.eval()(z.t().reshape(1, len(levels), 64, 64))
    grid = out.z_q.reshape(len(levels), -1)
    for i, level in enumerate(levels):
        assert grid[i].unique().numel() == level
    assert int(out.indices.min()) >= 0 and int(out.indices.max()) < k


def test_fsq_validation_and_default_levels():
    for k in (16, 512, 2048, 8192, 65536):
        levels = fsq_levels_for(k)
        assert math.prod(levels) == k and min(levels) >= 3
    with pytest.raises(ValueError, match=">= 3"):
        build_quantizer(QuantizerConfig(kind="fsq", codebook_size=4, options={"levels": [2, 2]}))
    with pytest.raises(ValueError, match="codebook_size"):
        build_quantizer(QuantizerConfig(kind="fsq", codebook_size=512, options={"levels": [5, 5]}))
    with pytest.raises(ValueError, match="levels"):
        build_quantizer(QuantizerConfig(kind="fsq", codebook_size=100))


def test_fsq_straight_through_reaches_projection_and_encoder():
    q = build_quantizer(
        QuantizerConfig(kind="fsq", codebook_size=60, options={"levels": [3, 4, 5]})
    )
    assert isinstance(q, FiniteScalarQuantizer)
    z = torch.randn(2, 64, 3, 3, requires_grad=True)
    q.train()(z).z_q.square().sum().backward()
    assert z.grad.abs().sum() > 0 and q.in_proj.weight.grad.abs().sum() > 0


# ---- residual VQ -----------------------------------------------------------------------------


def test_residual_stages_all_receive_gradient():
    beta, d = 0.25, 4
    q = make(
        "rvq",
        d=d,
        kind="rvq",
        commitment_weight=beta,
        dead_code_threshold=0.0,
        kmeans_init=False,
        options={"num_stages": 3, "stage_kind": "vq"},
    ).train()
    with torch.no_grad():
        for stage in q.stages:
            stage.codebook.normal_()
    z_e = torch.randn(2, d, 4, 4, requires_grad=True)
    out = q(z_e)
    assert out.indices.shape == (2, 3, 4, 4)
    out.loss.backward()
    for s, stage in enumerate(q.stages):
        assert stage.codebook.grad is not None and stage.codebook.grad.abs().sum() > 0, s
    # d loss / d z_e = sum over stages of beta * 2 (r_s - e_s) / numel, r_s = z_e - sum_{j<s} e_j:
    # every stage's commitment term reaches the encoder (residuals built from detached codes).
    flat = z_e.detach().permute(0, 2, 3, 1).reshape(-1, d)
    ids = out.indices.permute(0, 2, 3, 1).reshape(-1, 3)
    residual, expected = flat.clone(), torch.zeros_like(flat)
    for s, stage in enumerate(q.stages):
        e = stage.codebook.detach()[ids[:, s]]
        expected += beta * 2 * (residual - e) / flat.numel()
        residual = residual - e
    got = z_e.grad.permute(0, 2, 3, 1).reshape(-1, d)
    torch.testing.assert_close(got, expected)


def test_residual_straight_through_is_identity_and_dropout_masks_stages():
    torch.manual_seed(3)
    q = make("rvq-vq-dropout").train()
    z_e = torch.randn(2, 8, 3, 3, requires_grad=True)
    g = torch.randn(2, 8, 3, 3)
    seen = set()
    for _ in range(12):
        z_e.grad = None
        out = q(z_e)
        (out.z_q * g).sum().backward()
        torch.testing.assert_close(z_e.grad, g)  # one estimator on the sum: gradient I, not S*I
        active = int((out.indices[:, :, 0, 0] >= 0).sum(1)[0])
        seen.add(active)
        assert (out.indices[:, active:] == -1).all() and (out.indices[:, :active] >= 0).all()
        torch.testing.assert_close(q.embed(out.indices), out.z_q.detach())
    assert len(seen) > 1  # dropout really varies the number of stages
    assert (q.eval()(z_e).indices >= 0).all()  # never in eval


def test_residual_reduces_error_with_more_stages():
    z = torch.randn(4, 8, 8, 8)
    errors = []
    for n in (1, 2, 4):
        q = make("rvq", options={"num_stages": n}, kmeans_init=True).train()
        q(z)  # k-means init of stage after stage
        out = q.eval()(z)
        errors.append(float(F.mse_loss(out.z_q, z)))
    assert errors[0] > errors[1] > errors[2]


# ---- rotation trick --------------------------------------------------------------------------


def _rotation_reference(e: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """(lambda R) for one pair, R = I - 2 r r^T + 2 q^ e^T, built as a matrix (float64)."""
    e_hat, q_hat = e / e.norm(), q / q.norm()
    r = (e_hat + q_hat) / (e_hat + q_hat).norm()
    eye = torch.eye(e.numel(), dtype=e.dtype)
    rot = eye - 2 * torch.outer(r, r) + 2 * torch.outer(q_hat, e_hat)
    return q.norm() / e.norm() * rot


def test_rotation_trick_matches_its_formula():
    torch.manual_seed(1)
    z = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    codes = torch.randn(6, 5, dtype=torch.float64)
    g = torch.randn(6, 5, dtype=torch.float64)
    out = rotate_to(z, codes)
    torch.testing.assert_close(out, codes)  # value: the code
    (out * g).sum().backward()
    for i in range(6):
        m = _rotation_reference(z[i].detach(), codes[i])
        torch.testing.assert_close(m @ z[i].detach(), codes[i])  # lambda R maps e onto q
        rot = m / (codes[i].norm() / z[i].detach().norm())
        torch.testing.assert_close(rot.T @ rot, torch.eye(5, dtype=torch.float64))  # a rotation
        torch.testing.assert_close(z.grad[i], m.T @ g[i])  # gradient (lambda R)^T g


@pytest.mark.parametrize("kind", ["vq", "ema"])
def test_quantizer_rotation_gradient_differs_from_straight_through(kind):
    q = make(f"{kind}-rotation", kmeans_init=False, dead_code_threshold=0.0).train()
    z_e = torch.randn(2, 8, 3, 3, requires_grad=True)
    g = torch.randn(2, 8, 3, 3)
    weight = q.weight.detach().clone()  # the EMA step moves the codebook after the lookup
    out = q(z_e)
    (out.z_q * g).sum().backward()
    flat = z_e.detach().permute(0, 2, 3, 1).reshape(-1, 8).double()
    codes = weight[out.indices.flatten()].double()
    g_flat = g.permute(0, 2, 3, 1).reshape(-1, 8).double()
    expected = torch.stack(
        [_rotation_reference(flat[i], codes[i]).T @ g_flat[i] for i in range(flat.shape[0])]
    )
    got = z_e.grad.permute(0, 2, 3, 1).reshape(-1, 8).double()
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(got, g_flat)


# ---- entropy regulariser ---------------------------------------------------------------------


def test_entropy_penalty_prefers_confident_spread_assignments():
    codebook = torch.eye(4) * 10
    spread = codebook.clone()  # each vector sits on a different code
    collapsed = codebook[:1].repeat(4, 1)  # all on one code
    assert entropy_penalty(spread, codebook) < entropy_penalty(collapsed, codebook)
    torch.testing.assert_close(entropy_penalty(spread, codebook), -torch.log(torch.tensor(4.0)))


def test_entropy_weight_adds_gradient_to_codebook_and_survives_restarts():
    z_e = torch.randn(2, 8, 4, 4, requires_grad=True)
    plain = make("vq", kmeans_init=False, dead_code_threshold=0.0).train()
    reg = make("vq-entropy", kmeans_init=False, dead_code_threshold=0.0).train()
    reg.load_state_dict(plain.state_dict())
    plain(z_e).loss.backward()
    out = reg(z_e)
    out.loss.backward()  # in-place restarts (threshold 0.1 elsewhere) must not break this
    assert not torch.allclose(plain.codebook.grad, reg.codebook.grad)
    q = make("cosine", options={"lookup_dim": 4, "entropy_weight": 0.1}, dead_code_threshold=0.9)
    q.train()
    q(z_e).loss.backward()


# ---- every quantizer -------------------------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_embed_of_indices_gives_z_q_in_eval(variant):
    q = make(variant).train()
    z_e = torch.randn(3, 8, 5, 4, requires_grad=True)
    for _ in range(3):  # k-means init, EMA updates, restarts
        out = q(z_e)
        (out.z_q.square().mean() + out.loss).backward()
    q.eval()
    out = q(z_e)
    assert out.z_q.shape == z_e.shape and out.indices.dtype == torch.int64
    assert out.indices.shape[0] == 3 and out.indices.shape[-2:] == (5, 4)
    torch.testing.assert_close(q.embed(out.indices), out.z_q.detach())
    assert int(out.indices.min()) >= 0 and int(out.indices.max()) < q.codebook_size
    ids = q.code_ids(out.indices)
    assert ids.numel() == 3 * 5 * 4 * q.num_stages and int(ids.max()) < q.num_codes
    assert torch.isfinite(out.loss) and 1 <= float(out.perplexity) <= q.num_codes + 1e-3


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_save_load_round_trip(variant, tmp_path):
    settings = {"codebook_size": 16, "code_dim": 8, **VARIANTS[variant]}
    config = VQVAEConfig(
        in_channels=1,
        hidden_channels=16,
        res_channels=8,
        num_res_blocks=1,
        quantizer=QuantizerConfig(**settings),
    )
    model = VQVAE(config).train()
    model(torch.rand(4, 1, 16, 16))  # initialise / update quantizer state
    model.eval()
    model.save_pretrained(tmp_path)
    stored = json.loads((tmp_path / "config.json").read_text())["model"]["quantizer"]
    assert stored["kind"] == settings["kind"]
    loaded = VQVAE.from_pretrained(tmp_path)
    assert loaded.config == model.config
    x = torch.rand(2, 1, 16, 16)
    out = model(x)
    assert torch.equal(loaded(x).x_hat, out.x_hat)
    assert torch.equal(loaded.encode(x), out.indices)
    torch.testing.assert_close(loaded.decode(out.indices), out.x_hat)


def test_old_config_without_new_fields_loads():
    old = {
        "kind": "ema",
        "codebook_size": 32,
        "code_dim": 8,
        "commitment_weight": 0.25,
        "decay": 0.99,
        "eps": 1e-5,
        "kmeans_init": True,
        "kmeans_iters": 10,
        "dead_code_threshold": 0.03,
        "options": {},
    }
    config = VQVAEConfig.from_dict({"quantizer": old})
    assert config.quantizer.rotation_trick is False and config.quantizer.entropy_weight == 0.0


def test_default_config_dict_is_unchanged():
    # the codec fingerprints config dicts: new settings live in options, stored only when set
    assert set(VQVAEConfig().to_dict()["quantizer"]) == {
        "kind",
        "codebook_size",
        "code_dim",
        "commitment_weight",
        "decay",
        "eps",
        "kmeans_init",
        "kmeans_iters",
        "dead_code_threshold",
        "options",
    }


def test_code_ids_offsets_stages_and_skips_dropped():
    q = make("rvq")
    indices = torch.tensor([[[[0, 5]], [[-1, 5]], [[2, -1]]]])  # (1, 3, 1, 2)
    assert sorted(q.code_ids(indices).tolist()) == [0, 5, 5 + 16, 2 + 32]


def test_evaluate_counts_each_stage():
    from vqvae.data import load_dataset

    data = load_dataset("mnist", "test").subset(16)  # the embedded copy
    q = QuantizerConfig(kind="grouped", codebook_size=8, code_dim=8, options={"groups": 4})
    model = VQVAE(VQVAEConfig(hidden_channels=16, res_channels=8, num_res_blocks=1, quantizer=q))
    result = evaluate(model, data, batch_size=8)
    assert 0 < result["usage"] <= 1 and 1 <= result["perplexity"] <= 32


def test_cli_flags_reach_config(tmp_path):
    tiny = [
        "--code-dim",
        "8",
        "--hidden",
        "16",
        "--res-channels",
        "8",
        "--res-blocks",
        "1",
        "--batch-size",
        "16",
        "--train-subset",
        "32",
        "--eval-subset",
        "16",
        "--no-progress",
        "--max-steps",
        "1",
        "--epochs",
        "1",
    ]
    out = tmp_path / "fsq"
    assert main(["train", "--out", str(out), "--quantizer", "fsq", "--levels", "3,4,5", *tiny]) == 0
    q = json.loads((out / "config.json").read_text())["model"]["quantizer"]
    assert q["codebook_size"] == 60 and q["options"] == {"levels": [3, 4, 5]}
    out = tmp_path / "rvq"
    args = [
        "--quantizer",
        "rvq",
        "--num-stages",
        "2",
        "--quantizer-dropout",
        "0.5",
        "--rotation-trick",
        "--entropy-weight",
        "0.01",
        "--codebook-size",
        "16",
    ]
    assert main(["train", "--out", str(out), *args, *tiny]) == 0
    q = json.loads((out / "config.json").read_text())["model"]["quantizer"]
    assert q["options"] == {
        "num_stages": 2,
        "dropout": 0.5,
        "rotation_trick": True,
        "entropy_weight": 0.01,
    }
    assert VQVAE.from_pretrained(out).quantizer.num_stages == 2
    bad = ["train", "--out", str(tmp_path / "bad"), "--quantizer", "fsq", "--levels", "2,8"]
    assert main([*bad, *tiny]) == 2


def test_row_sums_matches_index_add():
    from vqvae.quantizers.vq import row_sums

    flat, indices = torch.randn(500, 7), torch.randint(13, (500,))
    expected = torch.zeros(13, 7, dtype=torch.float64).index_add_(0, indices, flat.double())
    torch.testing.assert_close(row_sums(flat, indices, 13), expected.float(), rtol=1e-6, atol=1e-6)


def test_cli_encode_decode_multi_stage_codes(tmp_path):
    from pathlib import Path

    import numpy as np

    digits = sorted(
        str(p) for p in (Path(__file__).parents[2] / "examples" / "digits").glob("*.png")
    )
    q = QuantizerConfig(kind="rvq", codebook_size=16, code_dim=8, options={"num_stages": 2})
    model = VQVAE(VQVAEConfig(hidden_channels=16, res_channels=8, num_res_blocks=1, quantizer=q))
    model.save_pretrained(tmp_path / "run")
    codes = tmp_path / "codes.npy"
    assert main(["encode", str(tmp_path / "run"), *digits[:3], "-o", str(codes)]) == 0
    array = np.load(codes)
    assert array.shape == (3, 2, 7, 7) and array.dtype == np.uint16
    assert (
        main(["decode", str(tmp_path / "run"), str(codes), "--out-dir", str(tmp_path / "out")]) == 0
    )
    assert len(list((tmp_path / "out").glob("*.png"))) == 3
    np.save(codes, array[:, :1])
    assert (
        main(["decode", str(tmp_path / "run"), str(codes), "--out-dir", str(tmp_path / "bad")]) == 2
    )
