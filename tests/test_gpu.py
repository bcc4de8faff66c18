"""The CUDA path (benchmarks/gpu_check.sh runs these): a bf16 + channels_last training step,
bf16 autocast against fp32, and codes encoded on the GPU decoded on the CPU. Skipped without
a CUDA device."""

import pytest
import torch

from vqvae import VQVAE, QuantizerConfig, VQVAEConfig, codec
from vqvae.data import load_dataset
from vqvae.device import autocast_for
from vqvae.metrics import psnr

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
CUDA = torch.device("cuda")


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    """256 MNIST test digits, float (256, 1, 28, 28) in [0, 1]."""
    return load_dataset("mnist", "test").images[:256].float().div(255)


def test_cuda_training_step_updates_weights_and_codebook(digits):
    config = VQVAEConfig(quantizer=QuantizerConfig(codebook_size=64, code_dim=16))
    torch.manual_seed(0)
    model = VQVAE(config).to(CUDA, memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = digits[:64].to(CUDA).contiguous(memory_format=torch.channels_last)
    before = [p.detach().clone() for p in model.parameters()]
    losses = []
    for _ in range(3):
        with autocast_for(CUDA):
            out = model(x)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        losses.append(float(out.loss.detach()))
        codebook = model.quantizer.codebook.detach().clone()
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]
    assert out.x_hat.dtype == torch.bfloat16  # the decoder ran under autocast
    assert model.quantizer.codebook.dtype == torch.float32  # the quantizer did not
    assert all(not torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))
    with torch.no_grad(), autocast_for(CUDA):
        model(x)  # one more training-mode forward: the EMA codebook moves
    assert not torch.equal(codebook, model.quantizer.codebook)


def test_bf16_autocast_forward_matches_fp32(digits):
    model = VQVAE.from_pretrained("mnist", map_location=CUDA)
    x = digits.to(CUDA)
    with torch.no_grad():
        fp32 = model(x)
        with autocast_for(CUDA):
            bf16 = model(x)
    agreement = (fp32.indices == bf16.indices).float().mean()
    assert agreement >= 0.85, f"only {agreement:.3f} of the codes agree"  # near ties move
    quality = [float(psnr(x, out.x_hat.float().clamp(0, 1)).mean()) for out in (fp32, bf16)]
    assert abs(quality[0] - quality[1]) < 0.5, quality  # dB
    torch.testing.assert_close(bf16.z_e.float(), fp32.z_e, rtol=0.05, atol=0.05)


def test_codes_encoded_on_the_gpu_decode_on_the_cpu(digits):
    gpu, cpu = codec.load("mnist", device="cuda"), codec.load("mnist", device="cpu")
    sheet = (digits[:16] * 255).round().to(torch.uint8)  # 16 digits side by side
    sheet = sheet.permute(1, 2, 0, 3).reshape(1, 28, 16 * 28)
    data = codec.compress(gpu, sheet)
    _, indices = codec.decompress_indices(data, cpu)
    with torch.no_grad():
        encoded = gpu.model.encode(sheet[None].float().div(255).to(CUDA))[0].cpu()
    assert torch.equal(indices, encoded)  # the stream holds exactly the GPU's codes
    image = codec.decompress(data, cpu)  # and the CPU decodes it
    assert image.size == (16 * 28, 28)
    on_cpu = cpu.model.encode(sheet[None].float().div(255))[0]
    assert (on_cpu == encoded).float().mean() >= 0.98  # TF32 convs may move a near tie
