"""recipes/ship.py: a run copied into the package layout, optionally with float16 weights."""

import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vqvae.config import QuantizerConfig, VQVAEConfig
from vqvae.models import VQVAE

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "recipes"))
try:
    import ship
finally:
    sys.path.pop(0)


@pytest.fixture
def audio_run(tmp_path):
    quantizer = QuantizerConfig(
        kind="rvq", codebook_size=16, code_dim=8, options={"num_stages": 3, "dropout": 0.5}
    )
    config = VQVAEConfig(
        modality="audio", sample_rate=8000, strides=(2, 5), hidden_channels=4,
        num_res_blocks=1, quantizer=quantizer, audio_decoder="istft",
    )  # fmt: skip
    model = VQVAE(config).eval()
    model.save_pretrained(tmp_path / "run")
    return tmp_path / "run", model


def test_half_precision_keeps_out_of_range_and_non_float_tensors():
    tensors = {
        "w": torch.tensor([0.1, -2.5, 1e-3]),
        "big": torch.tensor([1e6, 1.0]),
        "bad": torch.tensor([float("nan")]),
        "count": torch.tensor([3, 4]),
        "empty": torch.zeros(0),
    }
    out = ship.half_precision(tensors)
    assert out["w"].dtype == torch.float16 and torch.allclose(
        out["w"].float(), tensors["w"], rtol=1e-3
    )
    assert out["big"].dtype == out["bad"].dtype == torch.float32
    assert out["count"].dtype == torch.int64 and out["empty"].dtype == torch.float16


def test_a_run_shipped_in_half_precision_loads_and_codes_as_the_original(audio_run, tmp_path):
    run, model = audio_run
    ship.ROOT = tmp_path / "repo"
    full = ship.ship(run, "full")
    half = ship.ship(run, "half", half=True)
    assert (half / "model.safetensors").stat().st_size < 0.6 * (
        full / "model.safetensors"
    ).stat().st_size
    stored = load_file(str(half / "model.safetensors")).values()
    assert {t.dtype for t in stored if t.is_floating_point()} == {torch.float16}
    loaded = VQVAE.from_pretrained(half)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = 0.3 * torch.sin(torch.linspace(0, 200, 800)).reshape(1, 1, -1)
    with torch.no_grad():
        y, y_half = model.reconstruct(x), loaded.reconstruct(x)
    assert (y - y_half).abs().max() < 1e-2 * y.abs().max()


def test_half_refuses_a_run_whose_prior_is_stamped_with_its_weights(audio_run, tmp_path):
    run, _ = audio_run
    (run / "context").mkdir()
    (run / "context" / "config.json").write_text("{}")
    ship.ROOT = tmp_path / "repo"
    with pytest.raises(SystemExit, match="context"):
        ship.ship(run, "stamped", half=True)
