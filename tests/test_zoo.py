"""Shipped models by name: wherever a run dir is accepted; a run dir of the same name wins."""

import json
import shutil
from pathlib import Path

import numpy as np
import torch

from vqvae import VQVAE, Run, pretrained
from vqvae.cli import main


def test_names_resolve_to_the_package_and_a_run_dir_wins(tmp_path, monkeypatch):
    assert "mnist" in pretrained.names()
    assert Run("mnist").path == pretrained.ROOT / "mnist"
    assert VQVAE.from_pretrained("mnist").config.hidden_channels == 64
    own = tmp_path / "mnist"
    shutil.copytree(pretrained.ROOT / "mnist", own)
    config = json.loads((own / "config.json").read_text())
    config["model"]["quantizer"]["commitment_weight"] = 0.5  # tell the two apart
    (own / "config.json").write_text(json.dumps(config))
    monkeypatch.chdir(tmp_path)
    assert Run("mnist").path == own.relative_to(tmp_path)
    assert VQVAE.from_pretrained("mnist").config.quantizer.commitment_weight == 0.5


def test_an_unknown_name_lists_the_shipped_ones(capsys):
    assert main(["eval", "no-such-model", "--json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a run directory, nor the name of a shipped model" in err
    assert "mnist" in err


def test_models_lists_every_shipped_model(capsys):
    assert main(["models", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert set(listing) == set(pretrained.names())
    for info in listing.values():
        assert {"data", "size_mb", "headline", "description", "path"} <= set(info)
        assert 0 < info["size_mb"] < 40
    total = sum(pretrained.size_bytes(name) for name in pretrained.names())
    assert total <= 50e6  # all shipped weights together (PyPI's file limit is 100 MB)
    assert main(["models"]) == 0
    assert capsys.readouterr().out.startswith("mnist")


def test_a_command_takes_a_shipped_name(tmp_path, capsys):
    assert main(["eval", "mnist", "--limit", "16", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["psnr"] > 20


def _second_shipped_model(tmp_path, monkeypatch) -> str:
    """A scratch package root with mnist and a retrained copy of it, "mnist-b"."""
    from safetensors.torch import load_file, save_file

    from vqvae.codec import loading

    root = tmp_path / "pretrained"
    shutil.copytree(pretrained.ROOT / "mnist", root / "mnist")
    shutil.copytree(pretrained.ROOT / "mnist", root / "mnist-b")
    weights = load_file(root / "mnist-b" / "model.safetensors")
    weights = {k: v + 0.01 if v.is_floating_point() else v for k, v in weights.items()}
    save_file(weights, root / "mnist-b" / "model.safetensors")
    entry = {"data": "d", "headline": "h", "description": "x"}
    (root / "zoo.json").write_text(json.dumps({"mnist": entry, "mnist-b": entry}))
    monkeypatch.setattr(pretrained, "ROOT", root)
    monkeypatch.setattr(pretrained, "CATALOGUE", root / "zoo.json")
    monkeypatch.setattr(loading, "PRETRAINED_MNIST", root / "mnist")
    pretrained.catalogue.cache_clear()
    loading._shipped_fingerprint.cache_clear()
    return "mnist-b"


def test_compress_by_name_and_decompress_finds_the_model_by_fingerprint(
    tmp_path, monkeypatch, capsys
):
    from vqvae.codec import loading, read_header

    name = _second_shipped_model(tmp_path, monkeypatch)
    try:
        digit = str(sorted((Path(__file__).parents[1] / "examples" / "digits").glob("*"))[0])
        out = tmp_path / "b.vqz"
        assert main(["compress", "--model", name, digit, "-o", str(out)]) == 0
        assert main(["decompress", str(out), "-o", str(tmp_path / "b.png")]) == 0  # no --model
        assert main(["compress", digit, "-o", str(tmp_path / "a.vqz")]) == 0  # fits: mnist
        header = read_header((tmp_path / "a.vqz").read_bytes())
        assert loading.shipped_models_for(header.model_fingerprint) == ["mnist"]
        assert loading.shipped_models_for(read_header(out.read_bytes()).model_fingerprint) == [name]
    finally:
        pretrained.catalogue.cache_clear()
        loading._shipped_fingerprint.cache_clear()


def test_the_fitting_model_of_an_image():
    assert pretrained.for_image(1, 28, 28) == "mnist"
    photo = "photo" if "photo" in pretrained.names() else "mnist"
    assert pretrained.for_image(3, 512, 768) == photo and pretrained.for_image(1, 64, 64) == photo


def test_models_sharing_a_vqvae_decode_with_the_one_that_has_the_files_coder(tmp_path, monkeypatch):
    """ "mnist" and a copy with a prior share a fingerprint: a prior-coded file decodes with
    no --model, through the copy that has the prior."""
    from vqvae.codec import loading, read_header
    from vqvae.priors import PriorConfig, TransformerPrior, save_prior

    _second_shipped_model(tmp_path, monkeypatch)
    root = pretrained.ROOT
    shutil.rmtree(root / "mnist-b")
    shutil.copytree(root / "mnist", root / "mnist-b")  # the same VQ-VAE ...
    config = PriorConfig(codebook_size=128, height=7, width=7, n_layer=1, n_head=2, n_embd=16)
    save_prior(TransformerPrior(config), root / "mnist-b")  # ... with a prior
    try:
        digit = str(sorted((Path(__file__).parents[1] / "examples" / "digits").glob("*"))[0])
        out = tmp_path / "p.vqz"
        assert main(["compress", "--model", "mnist-b", digit, "-o", str(out)]) == 0
        assert read_header(out.read_bytes()).entropy_name == "prior"
        assert main(["decompress", str(out), "-o", str(tmp_path / "p.png")]) == 0
    finally:
        pretrained.catalogue.cache_clear()
        loading._shipped_fingerprint.cache_clear()


def test_a_shipped_models_codes_are_cached_outside_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("VQVAE_CACHE", str(tmp_path))
    run = Run("mnist")
    assert run.codes_dir.is_relative_to(tmp_path) and run.fingerprint in run.codes_dir.name
    own = tmp_path / "own"
    shutil.copytree(pretrained.ROOT / "mnist", own)
    assert Run(own).codes_dir == own / "codes"


def test_the_photo_model_loads_by_name_and_codes_a_colour_image(tmp_path):
    from PIL import Image

    from vqvae import codec
    from vqvae.codec import loading, read_header

    assert "photo" in pretrained.names()
    model = VQVAE.from_pretrained("photo")
    assert model.config.in_channels == 3 and model.config.downsample_factor == 4
    photo = codec.load("photo")
    assert photo.entropy_model.name == "context"  # the fast context model, by default
    path = Path(__file__).parents[1] / "examples" / "photo.png"  # 256x192 RGB
    image = torch.from_numpy(np.asarray(Image.open(path).convert("RGB"))).permute(2, 0, 1)
    out = tmp_path / "x.vqz"
    assert main(["compress", str(path), "-o", str(out)]) == 0  # no --model: fits photo
    header = read_header(out.read_bytes())
    assert header.entropy_name == "context"
    assert loading.shipped_models_for(header.model_fingerprint) == ["photo"]
    back = tmp_path / "y.png"
    assert main(["decompress", str(out), "-o", str(back)]) == 0  # no --model
    y = torch.from_numpy(np.asarray(Image.open(back).convert("RGB"))).permute(2, 0, 1)
    assert y.shape == image.shape
    mse = (y.double() - image.double()).pow(2).mean().item()
    assert 10 * np.log10(255**2 / mse) > 20
