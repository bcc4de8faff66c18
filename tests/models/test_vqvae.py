import pytest
import torch

from vqvae import VQVAE, CheckpointError, QuantizerConfig, VQVAEConfig, metrics


def tiny_config(**kw) -> VQVAEConfig:
    q = QuantizerConfig(codebook_size=kw.pop("k", 32), code_dim=8, kind=kw.pop("kind", "ema"))
    return VQVAEConfig(hidden_channels=16, res_channels=8, num_res_blocks=1, quantizer=q, **kw)


@pytest.mark.parametrize("f", [2, 4, 8])
def test_shapes_with_odd_sizes(f):
    model = VQVAE(tiny_config(downsample_factor=f))
    x = torch.rand(2, 1, 29, 23)
    out = model(x)
    assert out.x_hat.shape == x.shape
    assert out.indices.shape == (2, -(-29 // f), -(-23 // f))
    assert out.z_e.shape == (2, 8, -(-29 // f), -(-23 // f))
    assert out.indices.dtype == torch.int64


def test_mlp_arch_takes_its_size_only():
    model = VQVAE(tiny_config(arch="mlp", image_size=(28, 28))).eval()
    assert model.encode(torch.rand(2, 1, 28, 28)).shape == (2, 7, 7)
    with pytest.raises(ValueError, match="28x28"):
        model(torch.rand(2, 1, 32, 32))


def test_save_then_from_pretrained_gives_identical_outputs(tmp_path):
    model = VQVAE(tiny_config(kind="vq"))
    model.train()(torch.rand(4, 1, 16, 16))  # k-means init + statistics
    model.eval()
    model.save_pretrained(tmp_path)
    loaded = VQVAE.from_pretrained(tmp_path)
    assert loaded.config == model.config
    x = torch.rand(2, 1, 16, 16)
    assert torch.equal(loaded(x).x_hat, model(x).x_hat)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_from_pretrained_rejects_bad_dirs(tmp_path):
    with pytest.raises(CheckpointError, match="not a run directory"):
        VQVAE.from_pretrained(tmp_path / "missing")
    with pytest.raises(CheckpointError, match="config.json"):
        VQVAE.from_pretrained(tmp_path)
    VQVAE(tiny_config()).save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        VQVAE.from_pretrained(tmp_path)


def test_training_reduces_loss_and_gradients_are_finite():
    torch.manual_seed(0)
    model = VQVAE(tiny_config())
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 16), torch.linspace(0, 1, 16), indexing="ij")
    x = torch.stack([torch.sin(6 * (a * xx + (1 - a) * yy)) * 0.5 + 0.5 for a in torch.rand(16)])
    x = x.unsqueeze(1)
    first = None
    for _ in range(60):
        out = model(x)
        opt.zero_grad()
        out.loss.backward()
        for p in model.parameters():
            if p.grad is not None:
                assert torch.isfinite(p.grad).all()
        opt.step()
        first = first if first is not None else out.loss.item()
    assert out.loss.item() < 0.5 * first


def test_psnr_and_ssim_against_references():
    skimage_metrics = pytest.importorskip("skimage.metrics")
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 32, 24, generator=gen)
    y = (x + 0.1 * torch.randn(x.shape, generator=gen)).clamp(0, 1)
    for i in range(2):
        a, b = x[i].permute(1, 2, 0).double().numpy(), y[i].permute(1, 2, 0).double().numpy()
        ref_psnr = skimage_metrics.peak_signal_noise_ratio(a, b, data_range=1.0)
        ref_ssim = skimage_metrics.structural_similarity(
            a,
            b,
            data_range=1.0,
            channel_axis=2,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        assert abs(float(metrics.psnr(x, y)[i]) - ref_psnr) < 1e-3
        assert abs(float(metrics.ssim(x, y)[i]) - ref_ssim) < 2e-3


def test_code_statistics():
    stats = metrics.code_statistics(torch.tensor([5, 5, 0, 0]))
    assert stats["usage"] == 0.5
    assert stats["bits_per_code"] == pytest.approx(1.0)
    assert stats["perplexity"] == pytest.approx(2.0)


def test_atomic_write_gives_ordinary_permissions(tmp_path):
    import os

    from vqvae.checkpoint import atomic_write_bytes

    umask = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "f.bin", b"x")
    finally:
        os.umask(umask)
    assert (tmp_path / "f.bin").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "f.bin").read_bytes() == b"x"


def test_cosine_schedule_follows_steps_or_time():
    import math

    from vqvae.config import TrainConfig
    from vqvae.train.loop import scheduled_lr

    constant = TrainConfig.of(lr=0.01, lr_schedule="constant")
    assert scheduled_lr(constant.schedule, 50, 100, 0.0, math.inf) == 0.01
    cosine = TrainConfig.of(lr=0.01, lr_schedule="cosine")
    assert scheduled_lr(cosine.schedule, 0, 100, 0.0, math.inf) == pytest.approx(0.01)
    assert scheduled_lr(cosine.schedule, 50, 100, 0.0, math.inf) == pytest.approx(0.005)
    assert scheduled_lr(cosine.schedule, 100, 100, 0.0, math.inf) == pytest.approx(0.0)
    # a time budget that runs out first drives the decay
    assert scheduled_lr(cosine.schedule, 10, 1000, 45.0, 60.0) == pytest.approx(
        0.01 * 0.5 * (1 + math.cos(math.pi * 0.75))
    )
    with pytest.raises(ValueError, match="lr-schedule"):
        TrainConfig.of(lr_schedule="linear")


def test_warmup_ramps_the_learning_rate_then_hands_over_to_the_schedule():
    import math

    from vqvae.config import TrainConfig
    from vqvae.train.loop import scheduled_lr

    constant = TrainConfig.of(lr=0.01, lr_schedule="constant", warmup_steps=4)
    assert [scheduled_lr(constant.schedule, s, 100, 0.0, math.inf) for s in range(5)] == (
        pytest.approx([0.0025, 0.005, 0.0075, 0.01, 0.01])
    )
    cosine = TrainConfig.of(lr=0.01, lr_schedule="cosine", warmup_steps=10)
    assert scheduled_lr(cosine.schedule, 4, 100, 0.0, math.inf) == pytest.approx(
        0.5 * 0.01 * 0.5 * (1 + math.cos(math.pi * 0.04))
    )
    assert scheduled_lr(cosine.schedule, 50, 100, 0.0, math.inf) == pytest.approx(0.005)
    for bad in ({"warmup_steps": -1}, {"clip_grad": 0.0}, {"clip_grad": float("nan")}):
        with pytest.raises(ValueError, match="warmup-steps|clip-grad"):
            TrainConfig.of(**bad)


def test_clip_grad_bounds_the_gradient_norm_each_step_sees(tmp_path, monkeypatch):
    from vqvae.config import TrainConfig
    from vqvae.train import train

    norms: list[float] = []
    adam_step = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
        return adam_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    model = VQVAEConfig(
        hidden_channels=8, res_channels=4, num_res_blocks=1,
        quantizer=QuantizerConfig(codebook_size=16, code_dim=4),
    )  # fmt: skip
    settings = dict(
        dataset="mnist", train_subset=32, eval_subset=8, batch_size=16, max_steps=2, seed=0,
        device="cpu", checkpoint_every=0,
    )  # fmt: skip
    train(model, TrainConfig.of(**settings), tmp_path / "free", progress=False, log=print)
    assert min(norms) > 0.01  # unclipped, the gradients are larger than the clip below
    norms.clear()
    clipped = TrainConfig.of(**settings, clip_grad=0.01)
    train(model, clipped, tmp_path / "clipped", progress=False, log=print)
    assert len(norms) == 2 and max(norms) <= 0.01 * (1 + 1e-5)
