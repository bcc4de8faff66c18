"""`vqvae train --init-from`: a new run starts from the parts of another run that fit."""

import dataclasses
import json

import pytest
import torch

from vqvae import VQVAE
from vqvae.cli import main
from vqvae.errors import CheckpointError
from vqvae.train.warm_start import load_matching_parts

TINY = ["--code-dim", "4", "--hidden", "16", "--res-channels", "8", "--res-blocks", "1"]
TINY += ["--batch-size", "32", "--train-subset", "128", "--eval-subset", "32", "--no-progress"]
TINY += ["--seed", "3"]


def _part(model: VQVAE, name: str) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if k.startswith(name + ".")}


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    run = tmp_path_factory.mktemp("warm") / "source"
    assert main(["train", "--out", str(run), "--epochs", "1", "--codebook-size", "16", *TINY]) == 0
    return run


def test_bigger_codebook_keeps_encoder_and_decoder(source):
    src = VQVAE.from_pretrained(source)
    config = src.config.replace(
        quantizer=dataclasses.replace(src.config.quantizer, codebook_size=32)
    )
    model = VQVAE(config)
    assert load_matching_parts(model, source) == ["encoder", "decoder"]
    for part in ("encoder", "decoder"):
        assert _equal(_part(model, part), _part(src, part))
    # The new quantizer is fresh as a whole: not marked initialised, so k-means runs first.
    assert not bool(model.quantizer.initialized)
    assert model.quantizer.codebook.shape == (32, 4)


def test_same_sizes_copy_everything(source):
    src = VQVAE.from_pretrained(source)
    model = VQVAE(src.config)
    assert load_matching_parts(model, source) == ["encoder", "quantizer", "decoder"]
    assert _equal(model.state_dict(), src.state_dict())


def test_nothing_matching_is_an_error(source):
    src = VQVAE.from_pretrained(source)
    quantizer = dataclasses.replace(src.config.quantizer, codebook_size=8)
    other = VQVAE(src.config.replace(hidden_channels=24, quantizer=quantizer))
    with pytest.raises(CheckpointError, match="no part"):
        load_matching_parts(other, source)
    gray_to_rgb = VQVAE(src.config.replace(in_channels=3))
    with pytest.raises(CheckpointError, match="channel"):
        load_matching_parts(gray_to_rgb, source)


def test_cli_starts_from_source_and_records_it(source, tmp_path, capsys):
    out = tmp_path / "bigger"
    argv = ["train", "--out", str(out), "--codebook-size", "32", "--init-from", str(source)]
    assert main([*argv, "--max-steps", "1", "--lr", "1e-9", *TINY]) == 0
    captured = capsys.readouterr()
    assert "encoder, decoder copied" in captured.out + captured.err
    saved = json.loads((out / "config.json").read_text())
    assert saved["train"]["init_from"] == str(source.resolve())
    # One step at lr 1e-9: the decoder is (numerically) the source's, not a fresh one.
    src, new = VQVAE.from_pretrained(source), VQVAE.from_pretrained(out)
    for k, v in _part(src, "decoder").items():
        assert torch.allclose(new.state_dict()[k], v, atol=1e-6), k
    # --resume keeps the recorded source and does not copy it again.
    assert main(["train", "--out", str(out), "--resume", "--max-steps", "2", "--no-progress"]) == 0
    # A warm-started run's decoder can be trained on its frozen codes like any run's.
    decoder_run = tmp_path / "decoder"
    argv = ["train-decoder", str(out), "--out", str(decoder_run), "--max-steps", "1"]
    assert main([*argv, "--no-progress"]) == 0
    assert json.loads((decoder_run / "config.json").read_text())["train"]["init_from"] is None


def test_cli_bad_source_is_one_line_exit_2(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--init-from", str(tmp_path / "none"), *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a run directory" in err
    assert not out.exists()


def test_asymmetric_run_is_warm_started_whole(tmp_path):
    """--decoder-hidden builds a bigger decoder from the start; --init-from such a run with
    the same flags copies all three parts."""
    first, second = tmp_path / "first", tmp_path / "second"
    flags = ["--codebook-size", "16", "--decoder-hidden", "24", "--decoder-res-blocks", "2", *TINY]
    assert main(["train", "--out", str(first), "--max-steps", "2", *flags]) == 0
    model = VQVAE.from_pretrained(first)
    built = model.config.decoder_config()
    assert (built.hidden_channels, built.num_res_blocks) == (24, 2)
    fresh = VQVAE(model.config)
    assert load_matching_parts(fresh, first) == ["encoder", "quantizer", "decoder"]
    assert (
        main(["train", "--out", str(second), "--init-from", str(first), "--max-steps", "1", *flags])
        == 0
    )
