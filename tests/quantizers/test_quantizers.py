import pytest
import torch
import torch.nn.functional as F

from vqvae import EMAVectorQuantizer, QuantizerConfig, VectorQuantizer, build_quantizer
from vqvae.quantizers import distance, kmeans, nearest_code


def make(kind="vq", k=16, d=4, **kw):
    kw.setdefault("kmeans_init", False)
    kw.setdefault("dead_code_threshold", 0.0)
    return build_quantizer(QuantizerConfig(kind=kind, codebook_size=k, code_dim=d, **kw))


def test_nearest_code_matches_float64_brute_force():
    z = torch.randn(1000, 8)
    codebook = torch.randn(64, 8)
    expected = torch.cdist(z.double(), codebook.double()).argmin(1)
    assert torch.equal(nearest_code(z, codebook), expected)


def test_nearest_code_chunked_equals_unchunked(monkeypatch):
    z, codebook = torch.randn(500, 8), torch.randn(32, 8)
    full = nearest_code(z, codebook)
    monkeypatch.setattr(distance, "_MAX_ELEMENTS", 32 * 7)  # 7 rows per chunk
    assert torch.equal(nearest_code(z, codebook), full)


@pytest.mark.parametrize("kind", ["vq", "ema"])
def test_forward_picks_nearest_code_and_embed_inverts(kind):
    q = make(kind).eval()
    z_e = torch.randn(2, 4, 5, 3)
    out = q(z_e)
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, 4)
    expected = torch.cdist(flat.double(), q.weight.double()).argmin(1).view(2, 5, 3)
    assert torch.equal(out.indices, expected)
    assert out.z_q.shape == z_e.shape
    torch.testing.assert_close(q.embed(out.indices), out.z_q)


def test_straight_through_passes_gradient_to_encoder():
    q = make("vq").train()
    z_e = torch.randn(2, 4, 3, 3, requires_grad=True)
    out = q(z_e)
    (out.z_q * torch.randn_like(out.z_q)).sum().backward()
    assert z_e.grad is not None and z_e.grad.abs().sum() > 0
    assert torch.isfinite(z_e.grad).all()


def test_beta_sits_on_the_commitment_term():
    beta = 0.25
    q = make("vq", commitment_weight=beta).train()
    z_e = torch.randn(2, 4, 3, 3, requires_grad=True)
    out = q(z_e)
    flat = z_e.detach().permute(0, 2, 3, 1).reshape(-1, 4)
    e = q.weight.detach()[out.indices.flatten()]
    mse = F.mse_loss(flat, e)
    torch.testing.assert_close(out.codebook_loss, mse)
    torch.testing.assert_close(out.commitment_loss, mse)
    out.loss.backward()
    # d loss / d z_e comes only from beta * commitment: beta * 2 (z_e - e) / numel
    expected_grad = beta * 2 * (flat - e) / flat.numel()
    got = z_e.grad.permute(0, 2, 3, 1).reshape(-1, 4)
    torch.testing.assert_close(got, expected_grad)
    # the codebook's gradient comes only from the codebook term (weight 1, not beta)
    expected_code_grad = torch.zeros_like(q.weight).index_add_(
        0, out.indices.flatten(), 2 * (e - flat) / flat.numel()
    )
    torch.testing.assert_close(q.weight.grad, expected_code_grad)


def test_codebook_gets_no_gradient_from_reconstruction():
    q = make("vq").train()
    z_e = torch.randn(2, 4, 3, 3, requires_grad=True)
    out = q(z_e)
    out.z_q.sum().backward()  # a "decoder" loss only
    assert q.weight.grad is None or q.weight.grad.abs().sum() == 0


def test_ema_step_matches_hand_computation():
    decay, eps, k, d = 0.9, 1e-5, 4, 2
    q = make("ema", k=k, d=d, decay=decay, eps=eps).train()
    codebook0 = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [50.0, 50.0]])
    q.codebook.copy_(codebook0)
    q.embed_sum.copy_(codebook0)
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [9.0, 1.0], [11.0, 1.0], [0.0, 9.0]])
    out = q(z.t().reshape(1, d, 5, 1))
    assert out.indices.flatten().tolist() == [0, 0, 1, 1, 2]
    counts = torch.tensor([2.0, 2.0, 1.0, 0.0])
    sums = torch.tensor([[1.0, 1.0], [20.0, 2.0], [0.0, 9.0], [0.0, 0.0]])
    n_ema = decay * torch.ones(k) + (1 - decay) * counts
    m_ema = decay * codebook0 + (1 - decay) * sums
    total = n_ema.sum()
    smoothed = (n_ema + eps) / (total + k * eps) * total
    torch.testing.assert_close(q.cluster_size, n_ema)
    torch.testing.assert_close(q.embed_sum, m_ema)
    torch.testing.assert_close(q.codebook, m_ema / smoothed[:, None])
    # EMA loss is beta * commitment only
    torch.testing.assert_close(out.loss, 0.25 * out.commitment_loss)


@pytest.mark.parametrize("kind", ["vq", "ema"])
def test_eval_changes_no_state(kind):
    q = make(kind, dead_code_threshold=0.5, kmeans_init=True).eval()
    before = {k: v.clone() for k, v in q.state_dict().items()}
    q(torch.randn(4, 4, 3, 3))
    for key, value in q.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_dead_code_restart_resets_ema_statistics():
    q = make("ema", k=8, d=2, dead_code_threshold=0.5).train()
    codebook0 = torch.randn(8, 2)
    codebook0[5] = 1e6  # far away: never chosen
    q.codebook.copy_(codebook0)
    q.embed_sum.copy_(codebook0)
    q.cluster_size[5] = 0.01  # its running usage has decayed below the threshold
    q.recent_usage[5] = 0.01
    z = torch.randn(1, 2, 16, 16)
    out = q(z)
    assert 5 not in out.indices.unique().tolist()
    batch = z.permute(0, 2, 3, 1).reshape(-1, 2)
    # code 5 was restarted onto one of the batch vectors ...
    assert (q.codebook[5] - batch).norm(dim=1).min() < 1e-6
    # ... and its EMA statistics were reset consistently: codebook = embed_sum / cluster_size
    share = q.cluster_size.sum() / 8
    assert q.cluster_size[5] > 0.5 * share
    torch.testing.assert_close(q.embed_sum[5] / q.cluster_size[5], q.codebook[5])


def test_dead_code_restart_vq():
    q = make("vq", k=8, d=2, dead_code_threshold=0.5).train()
    with torch.no_grad():
        q.codebook[3] = 1e6
    q.cluster_size[3] = 0.01
    q.recent_usage[3] = 0.01
    z = torch.randn(1, 2, 16, 16)
    q(z)
    batch = z.permute(0, 2, 3, 1).reshape(-1, 2)
    assert (q.codebook[3] - batch).norm(dim=1).min() < 1e-6
    assert q.cluster_size[3] > 0.5 * q.cluster_size.sum() / 8


def _steps_until_far_code_restarts(q, most_steps: int) -> int:
    """Park code 5 far away (never chosen) and count the steps until it is restarted."""
    q.codebook[5] = 1e6
    q.embed_sum[5] = 1e6
    steps = 0
    while q.codebook[5].abs().max() > 1e5:
        q(torch.randn(1, 2, 8, 8))
        steps += 1
        assert steps <= most_steps
    return steps


def test_unused_code_dies_after_grace_period():
    q = make("ema", k=8, d=2, dead_code_threshold=0.5).train()
    steps = _steps_until_far_code_restarts(q, most_steps=199)
    assert steps > 1  # not restarted at the first step: a fresh code gets time to be used


def test_recent_usage_is_a_hand_computed_ema_step():
    q = make("ema", k=4, d=2, dead_code_threshold=0.0, options={"restart_decay": 0.8}).train()
    q.codebook.copy_(torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]]))
    q.embed_sum.copy_(q.codebook)
    z = torch.tensor([[0.1, 0.0], [9.9, 0.1], [0.2, 0.1], [0.0, 9.0]])  # counts 2, 1, 1, 0
    q(z.t().reshape(1, 2, 2, 2))
    expected = 0.8 * torch.ones(4) + 0.2 * torch.tensor([2.0, 1.0, 1.0, 0.0])
    torch.testing.assert_close(q.recent_usage, expected)


@pytest.mark.parametrize("restart_decay, most_steps", [(0.5, 8), (0.9, 50)])
def test_restart_horizon_follows_restart_decay_not_codebook_decay(restart_decay, most_steps):
    # Codebook decay 0.999 alone would keep an unused code alive for thousands of steps.
    q = make(
        "ema", k=8, d=2, decay=0.999, dead_code_threshold=0.03,
        options={"restart_decay": restart_decay},
    ).train()  # fmt: skip
    assert _steps_until_far_code_restarts(q, most_steps) > 1


def test_weights_without_recent_usage_still_load():
    q = make("ema", k=8, d=2)
    state = q.state_dict()
    state["cluster_size"] = torch.arange(1.0, 9.0)
    del state["recent_usage"]
    fresh = make("ema", k=8, d=2)
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh.recent_usage, torch.arange(1.0, 9.0))


def test_kmeans_init_uses_data():
    q = make("ema", k=4, d=2, kmeans_init=True).train()
    centers = torch.tensor([[5.0, 5.0], [-5.0, 5.0], [5.0, -5.0], [-5.0, -5.0]])
    z = centers[torch.arange(400) % 4] + 0.01 * torch.randn(400, 2)
    q(z.t().reshape(1, 2, 20, 20))
    assert bool(q.initialized)
    dists = torch.cdist(centers, q.codebook).min(1).values
    assert dists.max() < 0.1


def test_kmeans_handles_fewer_vectors_than_clusters():
    out = kmeans(torch.randn(3, 2), 8, iters=3)
    assert out.shape == (8, 2) and torch.isfinite(out).all()


def test_quantizer_runs_fp32_under_autocast():
    q = make("ema").eval()
    z = torch.randn(2, 4, 3, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = q(z.bfloat16())
    ref = q(z.bfloat16().float())
    assert torch.equal(out.indices, ref.indices)


def test_classes_and_validation():
    assert isinstance(make("vq"), VectorQuantizer)
    assert isinstance(make("ema"), EMAVectorQuantizer)
    with pytest.raises(ValueError, match="unknown quantizer"):
        make("nope")
    with pytest.raises(ValueError):
        QuantizerConfig(codebook_size=1)
    with pytest.raises(ValueError, match="expected z_e"):
        make("vq")(torch.randn(2, 3, 4, 4))


def test_nearest_code_with_bias_matches_brute_force():
    z, codebook, bias = torch.randn(300, 4), torch.randn(16, 4), torch.rand(16)
    expected = (torch.cdist(z.double(), codebook.double()) ** 2 + bias.double()).argmin(1)
    assert torch.equal(nearest_code(z, codebook, bias), expected)


def test_rate_weight_assigns_by_distance_plus_bits():
    q = make("ema", k=2, d=1, options={"rate_weight": 0.5}).eval()
    q.codebook.copy_(torch.tensor([[0.0], [1.0]]))
    q.cluster_size.copy_(torch.tensor([7.0, 1.0]))  # p = 7/8, 1/8: 0.19 and 3 bits
    z = torch.tensor([0.4, 0.6, 0.9]).reshape(1, 1, 1, 3)
    bits = -torch.log2(torch.tensor([7.0, 1.0]) / 8)
    cost = (z.reshape(3, 1) - torch.tensor([0.0, 1.0])) ** 2 + 0.5 * bits
    expected = cost.argmin(1)
    assert expected.tolist() == [0, 0, 0]  # 0.9 is nearer code 1 but code 0 is 2.8 bits cheaper
    assert q(z).indices.flatten().tolist() == expected.tolist()
    assert make("ema", k=2, d=1).eval().rate_bias() is None
