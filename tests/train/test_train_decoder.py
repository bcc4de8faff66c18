"""`vqvae train-decoder`: a new decoder on frozen codes; the source's entropy models carry over."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from vqvae import VQVAE, VQVAEConfig
from vqvae.cli import main
from vqvae.codec import compress, decompress, load, model_fingerprint
from vqvae.codec.container import FormatError
from vqvae.data import load_image
from vqvae.errors import CheckpointError
from vqvae.priors import PriorConfig, TransformerPrior, load_prior, save_prior
from vqvae.priors.context import ContextConfig, ContextModel, load_context, save_context
from vqvae.train.decoder import carry_over, with_decoder_sizes

DIGITS = sorted(str(p) for p in (Path(__file__).parents[2] / "examples" / "digits").glob("*.png"))
TINY = ["--codebook-size", "16", "--code-dim", "4", "--hidden", "16", "--res-channels", "8"]
TINY += ["--res-blocks", "1", "--batch-size", "32", "--train-subset", "128"]
TINY += ["--eval-subset", "32", "--no-progress", "--seed", "3"]


def _code_state(model: VQVAE) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if not k.startswith("decoder.")}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A tiny trained run with a static code distribution, a (untrained) prior and context model."""
    run = tmp_path_factory.mktemp("decoder") / "source"
    assert main(["train", "--out", str(run), "--epochs", "1", *TINY]) == 0
    assert main(["fit-entropy", str(run), "--limit", "128"]) == 0
    prior = TransformerPrior(PriorConfig(codebook_size=16, height=7, width=7, n_layer=1, n_embd=16))
    save_prior(prior, run)
    torch.manual_seed(0)
    save_context(ContextModel(ContextConfig(codebook_size=16, embed_dim=4, channels=8)), run)
    return run


@pytest.fixture(scope="module")
def bigger(source) -> Path:
    out = source.parent / "bigger"
    argv = ["train-decoder", str(source), "--out", str(out), "--hidden", "24", "--res-blocks", "2"]
    assert main([*argv, "--epochs", "5", "--max-steps", "6", "--no-progress"]) == 0
    return out


def test_config_without_decoder_sizes_is_unchanged():
    config = VQVAEConfig(hidden_channels=32)
    assert not any(k.startswith("decoder_") for k in config.to_dict())
    assert config.decoder_config() == config
    own = with_decoder_sizes(config, hidden=64, res_blocks=3)
    assert own.to_dict()["decoder_hidden_channels"] == 64
    assert "decoder_res_channels" not in own.to_dict()  # equal to the encoder's: unset
    assert VQVAEConfig.from_dict(own.to_dict()) == own
    built = own.decoder_config()
    assert (built.hidden_channels, built.res_channels, built.num_res_blocks) == (64, 32, 3)
    assert with_decoder_sizes(own) == own  # no sizes given: the source decoder's are kept
    assert with_decoder_sizes(own, hidden=32).decoder_hidden_channels is None
    with pytest.raises(ValueError, match="decoder_hidden_channels"):
        VQVAEConfig(decoder_hidden_channels=0)


def test_codes_are_frozen_and_decoder_is_new(source, bigger):
    old, new = VQVAE.from_pretrained(source), VQVAE.from_pretrained(bigger)
    theirs, ours = _code_state(old), _code_state(new)
    assert theirs.keys() == ours.keys()
    assert all(torch.equal(theirs[k], ours[k]) for k in theirs)  # EMA buffers included
    assert new.config.decoder_hidden_channels == 24 and new.config.decoder_res_blocks == 2
    assert new.decoder.net[0].out_channels == 24
    images = torch.stack([load_image(p) for p in DIGITS]).float() / 255
    assert torch.equal(old.encode(images), new.encode(images))
    record = json.loads((bigger / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["step"] == 6
    config = json.loads((bigger / "config.json").read_text())
    assert config["train"]["codes_from"] == str(source)


def test_entropy_models_carry_over(source, bigger):
    assert (bigger / "entropy.json").read_bytes() == (source / "entropy.json").read_bytes()
    prior, original = load_prior(bigger), load_prior(source)  # stamped with the new weights
    for key, tensor in original.state_dict().items():
        assert torch.equal(prior.state_dict()[key], tensor)
    image = load_image(DIGITS[0])
    assert load(bigger).entropy_model.name == "prior"
    data = compress(str(bigger), image)
    assert compress(str(source), image)[13:-4] == data[13:-4]  # same codes, same tables: same bits
    assert decompress(data, str(bigger)).size == (28, 28)
    assert model_fingerprint(VQVAE.from_pretrained(bigger)) != model_fingerprint(
        VQVAE.from_pretrained(source)
    )
    with pytest.raises(FormatError, match="another model"):
        decompress(data, str(source))


def test_context_model_carries_over(source, bigger):
    context, original = load_context(bigger), load_context(source)  # stamped with the new weights
    for key, tensor in original.state_dict().items():
        assert torch.equal(context.state_dict()[key], tensor)
    image = load_image(DIGITS[0])
    ours, theirs = load(str(bigger), entropy="context"), load(str(source), entropy="context")
    assert ours.entropy_model.name == "context"
    data = compress(str(bigger), image, entropy_model=ours.entropy_model)
    assert compress(str(source), image, entropy_model=theirs.entropy_model)[13:-4] == data[13:-4]
    assert decompress(data, str(bigger)).size == (28, 28)


def test_resume_keeps_codes_frozen(source, tmp_path):
    out = tmp_path / "resumed"
    argv = ["train-decoder", str(source), "--out", str(out), "--no-progress", "--epochs", "5"]
    assert main([*argv, "--max-steps", "2"]) == 0
    assert main([*argv, "--max-steps", "4", "--resume"]) == 0
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["step"] == 4
    old, new = _code_state(VQVAE.from_pretrained(source)), _code_state(VQVAE.from_pretrained(out))
    assert all(torch.equal(old[k], new[k]) for k in old)
    assert VQVAE.from_pretrained(out).config == VQVAE.from_pretrained(source).config


def test_bad_input_one_line_exit_2(source, bigger, tmp_path, capsys):
    cases = [
        ["train-decoder", str(source), "--out", str(source)],
        ["train-decoder", str(source), "--out", str(bigger)],  # a run already there
        ["train-decoder", str(tmp_path / "missing"), "--out", str(tmp_path / "x")],
        ["train-decoder", str(source), "--out", str(tmp_path / "y"), "--hidden", "0"],
    ]
    for argv in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("vqvae: error: ") and err.count("\n") == 1, err
    assert not (tmp_path / "y").exists()


def test_stale_models_are_not_carried_over(source, bigger, tmp_path):
    stale, target = tmp_path / "stale", tmp_path / "target"
    shutil.copytree(source, stale)
    shutil.copytree(bigger, target)
    for folder in ("prior", "context"):
        shutil.rmtree(target / folder)
        config = json.loads((stale / folder / "config.json").read_text())
        config["vqvae_fingerprint"] = "0" * 16
        (stale / folder / "config.json").write_text(json.dumps(config))
    copied = carry_over(stale, target)
    assert copied[0] == "entropy.json" and copied[1].startswith("not prior")
    assert copied[2].startswith("not context")
    assert not (target / "prior").exists() and not (target / "context").exists()
    other = VQVAE.from_pretrained(bigger)
    with torch.no_grad():
        other.encoder.net[0].weight[0, 0, 0, 0] += 1e-3
    other.save_pretrained(tmp_path / "other")
    with pytest.raises(CheckpointError, match="differs"):
        carry_over(source, tmp_path / "other")


def test_same_size_continues_the_source_decoder(source, tmp_path):
    out = tmp_path / "continued"
    argv = ["train-decoder", str(source), "--out", str(out), "--no-progress", "--lr", "1e-12"]
    assert main([*argv, "--max-steps", "1"]) == 0
    old, new = VQVAE.from_pretrained(source), VQVAE.from_pretrained(out)
    assert new.config == old.config  # no decoder sizes stored
    theirs, ours = old.decoder.state_dict(), new.decoder.state_dict()
    assert theirs.keys() == ours.keys()
    for key in theirs:
        assert torch.allclose(theirs[key], ours[key], atol=1e-9), key


def test_sharp_losses_train_the_decoder_on_the_same_codes(source, tmp_path):
    """--perceptual-weight and --adversarial-weight (issue #39): the decoder changes, the codes
    and the carried-over entropy model do not, and the losses are saved with the run."""
    out = tmp_path / "sharp"
    argv = ["train-decoder", str(source), "--out", str(out), "--no-progress", "--max-steps", "2"]
    argv += ["--perceptual-weight", "0.5", "--adversarial-weight", "0.1", "--feature-weight", "0"]
    assert main(argv) == 0
    old, new = VQVAE.from_pretrained(source), VQVAE.from_pretrained(out)
    theirs, ours = _code_state(old), _code_state(new)
    assert all(torch.equal(theirs[k], ours[k]) for k in theirs)
    changed = [
        k
        for k, v in old.decoder.state_dict().items()
        if not torch.equal(v, new.decoder.state_dict()[k])
    ]
    assert changed  # the decoder trained
    saved = json.loads((out / "config.json").read_text())["train"]
    assert (saved["perceptual_weight"], saved["adversarial_weight"]) == (0.5, 0.1)
    assert (out / "entropy.json").read_bytes() == (source / "entropy.json").read_bytes()


def test_bad_perceptual_net_is_one_line_exit_2(source, tmp_path, capsys):
    argv = ["train-decoder", str(source), "--out", str(tmp_path / "x"), "--perceptual-weight"]
    assert main([*argv, "1", "--perceptual-net", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing" in err[0]


def test_an_audio_run_gets_a_decoder_on_its_frozen_codes(tmp_path):
    """Speech runs too: the codes stay the source's (strides, not a downsample factor, shape
    them), the decoder trains, the per-stage entropy model carries over."""
    root = tmp_path / "speech"
    for split, n in (("train", 4), ("test", 2)):
        (root / split).mkdir(parents=True)
        for i in range(n):
            t = np.arange(4800) / 8000
            x = 0.3 * np.sin(2 * np.pi * (150 + 40 * i) * t) * np.hanning(4800)
            sf.write(str(root / split / f"{i}.wav"), x.astype(np.float32), 8000)
    source, out = tmp_path / "source", tmp_path / "decoder"
    tiny = ["--hidden", "8", "--res-channels", "8", "--res-blocks", "1", "--codebook-size", "16"]
    tiny += ["--code-dim", "4", "--batch-size", "4", "--random-crop", "1600", "--no-progress"]
    argv = ["train", "--dataset", str(root), "--out", str(source), "--max-steps", "2", *tiny]
    assert main([*argv, "--seed", "1"]) == 0
    assert main(["fit-entropy", str(source)]) == 0
    argv = ["train-decoder", str(source), "--out", str(out), "--max-steps", "2", "--no-progress"]
    assert main(argv) == 0
    before, after = VQVAE.from_pretrained(source), VQVAE.from_pretrained(out)
    assert all(torch.equal(v, _code_state(after)[k]) for k, v in _code_state(before).items())
    decoders = [m.decoder.state_dict() for m in (before, after)]
    assert any(not torch.equal(decoders[0][k], decoders[1][k]) for k in decoders[0])
    entropy = json.loads((out / "entropy.json").read_text())
    assert (
        entropy["stage_counts"] == json.loads((source / "entropy.json").read_text())["stage_counts"]
    )
