"""Shipped models by name: wherever a run dir is accepted; a run dir of the same name wins."""

import json
import shutil

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
    assert err.count("\n") == 1 and "neither a run directory nor a shipped model" in err
    assert "mnist" in err


def test_models_lists_every_shipped_model(capsys):
    assert main(["models", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert set(listing) == set(pretrained.names())
    for info in listing.values():
        assert {"data", "size_mb", "headline", "description", "path"} <= set(info)
        assert 0 < info["size_mb"] < 40
    total = sum(pretrained.size_bytes(name) for name in pretrained.names())
    assert total <= 40e6  # all shipped weights together
    assert main(["models"]) == 0
    assert capsys.readouterr().out.startswith("mnist")


def test_a_command_takes_a_shipped_name(tmp_path, capsys):
    assert main(["eval", "mnist", "--limit", "16", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["psnr"] > 20
