"""The contract every VQ-VAE architecture keeps, image or audio: shapes, determinism,
save/load, decode(encode(x)) equal to the forward reconstruction in eval mode, and (for
residual quantizers) decoding from a prefix of the stages."""

import math

import pytest
import torch

from vqvae import VQVAE, QuantizerConfig, VQVAEConfig
from vqvae.models import AudioSignal, ImageSignal


def _quantizer(stages: int) -> QuantizerConfig:
    if stages == 1:
        return QuantizerConfig(kind="vq", codebook_size=16, code_dim=8)
    return QuantizerConfig(
        kind="rvq", codebook_size=16, code_dim=8, options={"num_stages": stages, "dropout": 0.5}
    )


def _image(arch: str, stages: int) -> VQVAEConfig:
    size = {"image_size": (16, 16)} if arch == "mlp" else {}
    return VQVAEConfig(
        in_channels=3, hidden_channels=8, res_channels=4, num_res_blocks=1,
        downsample_factor=4, arch=arch, quantizer=_quantizer(stages), **size,
    )  # fmt: skip


def _audio(decoder: str, stages: int) -> VQVAEConfig:
    return VQVAEConfig(
        modality="audio", sample_rate=8000, strides=(2, 5), hidden_channels=4,
        num_res_blocks=1, audio_decoder=decoder, quantizer=_quantizer(stages),
    )  # fmt: skip


# name -> (config builder, input maker, code positions of that input)
ARCHITECTURES = {
    "image-conv": (lambda s: _image("conv", s), lambda: torch.rand(2, 3, 13, 18), (4, 5)),
    "image-mlp": (lambda s: _image("mlp", s), lambda: torch.rand(2, 3, 16, 16), (4, 4)),
    "audio-conv": (lambda s: _audio("conv", s), lambda: torch.rand(2, 1, 47) - 0.5, (5,)),
    "audio-istft": (lambda s: _audio("istft", s), lambda: torch.rand(2, 1, 47) - 0.5, (5,)),
}
CASES = [(name, stages) for name in ARCHITECTURES for stages in (1, 3)]


def _model(name: str, stages: int) -> tuple[VQVAE, torch.Tensor, tuple[int, ...]]:
    config, make_input, positions = ARCHITECTURES[name]
    torch.manual_seed(0)
    model = VQVAE(config(stages))
    x = make_input()
    model.train()(x)  # the codebooks' first-batch init
    return model.eval(), x, positions


@pytest.mark.parametrize("name, stages", CASES)
def test_shapes_and_signal(name, stages):
    model, x, positions = _model(name, stages)
    assert type(model) is VQVAE
    signal = AudioSignal if name.startswith("audio") else ImageSignal
    assert isinstance(model.signal, signal) and model.modality == signal.kind
    out = model(x)
    assert out.x_hat.shape == x.shape and torch.isfinite(out.loss)
    stage_axis = (stages,) if stages > 1 else ()
    assert out.indices.shape == (x.shape[0], *stage_axis, *positions)
    assert out.indices.dtype == torch.int64
    assert model.reconstruct(x).shape == x.shape
    low, high = model.signal.value_range
    assert model.reconstruct(x).min() >= low and model.reconstruct(x).max() <= high


@pytest.mark.parametrize("name, stages", CASES)
def test_decode_of_encode_equals_the_forward_reconstruction_in_eval(name, stages):
    model, x, _ = _model(name, stages)
    out = model(x)
    decoded = model.signal.crop(model.decode(model.encode(x)), x)
    torch.testing.assert_close(decoded, out.x_hat)
    torch.testing.assert_close(model.quantizer.embed(out.indices), out.z_q)


@pytest.mark.parametrize("name, stages", CASES)
def test_deterministic_in_eval(name, stages):
    model, x, _ = _model(name, stages)
    assert torch.equal(model.encode(x), model.encode(x))
    assert torch.equal(model(x).x_hat, model(x).x_hat)
    again, _, _ = _model(name, stages)  # same seed, same weights
    for key, value in model.state_dict().items():
        assert torch.equal(again.state_dict()[key], value), key


@pytest.mark.parametrize("name, stages", CASES)
def test_save_and_load_give_the_same_model(tmp_path, name, stages):
    model, x, _ = _model(name, stages)
    model.save_pretrained(tmp_path)
    loaded = VQVAE.from_pretrained(tmp_path)
    assert type(loaded) is VQVAE and loaded.config == model.config and not loaded.training
    assert torch.equal(loaded.encode(x), model.encode(x))
    assert torch.equal(loaded(x).x_hat, model(x).x_hat)
    assert loaded.state_dict().keys() == model.state_dict().keys()


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_a_residual_model_decodes_from_a_prefix_of_its_stages(name):
    model, x, _ = _model(name, 3)
    assert model.supports_stage_prefix and model.num_stages == 3
    indices = model.encode(x)
    one = model.decode(indices, stages=1)
    assert torch.equal(one, model.decode(indices[:, :1]))
    dropped = indices.clone()
    dropped[:, 1:] = -1
    assert torch.equal(one, model.decode(dropped))
    assert not torch.equal(one, model.decode(indices))
    errors = [model.signal.crop(model.decode(indices, k), x).sub(x).pow(2).mean() for k in (1, 3)]
    assert all(math.isfinite(float(e)) for e in errors)
    torch.testing.assert_close(
        model.reconstruct(x, 2),
        model.signal.crop(model.decode(indices[:, :2]), x).clamp(*model.signal.value_range),
    )
    with pytest.raises(ValueError, match="stages must be in"):
        model.decode(indices, stages=4)
    with pytest.raises(ValueError, match="expected indices"):
        model.decode(indices[:, 0])  # the stage axis missing


def test_a_grouped_model_needs_all_its_codebooks():
    config = VQVAEConfig(
        hidden_channels=8, res_channels=4, num_res_blocks=1, downsample_factor=4,
        quantizer=QuantizerConfig(kind="grouped", codebook_size=16, code_dim=8,
                                  options={"groups": 2}),
    )  # fmt: skip
    model = VQVAE(config).eval()
    indices = model.encode(torch.rand(1, 1, 8, 8))
    assert indices.shape == (1, 2, 2, 2) and not model.supports_stage_prefix
    assert model.decode(indices).shape == (1, 1, 8, 8)
    with pytest.raises(ValueError, match="decodes all 2"):
        model.decode(indices[:, :1])


def test_single_codebook_models_take_no_stage_count():
    model, x, _ = _model("image-conv", 1)
    indices = model.encode(x)
    assert torch.equal(model.decode(indices, stages=1), model.decode(indices))
    with pytest.raises(ValueError, match="one stage"):
        model.decode(indices, stages=2)


def test_rate_figures_are_audio_only():
    audio, _, _ = _model("audio-conv", 3)
    assert audio.sample_rate == 8000 and audio.hop_length == 10 == audio.downsample_factor
    assert audio.frames_per_second == 800 and audio.bitrate(2) == pytest.approx(800 * 2 * 4)
    image, _, _ = _model("image-conv", 3)
    assert image.downsample_factor == 4
    with pytest.raises(AttributeError, match="audio models"):
        image.bitrate()


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_last_decoder_weight_is_the_output_layer(name):
    """``last_decoder_weight`` (where the adaptive weight of adversarial training compares
    gradients) belongs to the last decoder layer with weights that runs, and x_hat depends
    on it."""
    model, x, _ = _model(name, 1)
    weight = model.last_decoder_weight()
    ran = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: ran.append(m))
        for m in model.decoder.modules()
        if isinstance(getattr(m, "weight", None), torch.nn.Parameter)
    ]
    try:
        out = model.train()(x)
    finally:
        for hook in hooks:
            hook.remove()
    assert ran[-1].weight is weight
    assert any(p is weight for p in model.decoder.parameters())
    (grad,) = torch.autograd.grad(out.x_hat.square().sum(), weight)
    assert bool(grad.abs().sum() > 0)
