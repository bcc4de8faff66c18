"""Per-dataset default recipes: what a bare `vqvae train` trains, and that flags override."""

import argparse
import json
from pathlib import Path

import pytest

from vqvae.cli import build_parser, main
from vqvae.train.configure import NO_EPOCH_LIMIT, count_training_images, fit_batch, recipe_schedule
from vqvae.train.recipes import RECIPES, recipe_for

DIGITS = str(Path(__file__).parents[2] / "examples" / "digits")
SHORT = ["--train-subset", "64", "--eval-subset", "32", "--max-steps", "1", "--device", "cpu"]


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["train", "--out", "x", *argv])


def test_recipes_by_dataset():
    assert recipe_for(None) is recipe_for("mnist") is RECIPES["mnist"]
    assert recipe_for("some/folder") is RECIPES["folder"]
    assert recipe_for("cifar10").model["codebook_size"] == 512


def test_a_bare_run_takes_the_recipes_steps_and_any_length_replaces_them():
    mnist = RECIPES["mnist"]
    bare = recipe_schedule(_args(), mnist)
    assert bare["max_steps"] == mnist.steps and bare["epochs"] == NO_EPOCH_LIMIT
    assert "max_minutes" not in bare  # steps, not minutes: the same model on any machine
    assert bare["batch_size"] == 64 and bare["lr"] == 2e-3
    epochs = recipe_schedule(_args("--epochs", "2"), mnist)
    assert "max_steps" not in epochs and "epochs" not in epochs  # the flag's
    steps = recipe_schedule(_args("--max-steps", "9"), mnist)
    assert "max_steps" not in steps and steps["epochs"] == NO_EPOCH_LIMIT  # the steps decide
    alone = recipe_schedule(_args("--max-minutes", "1"), mnist)
    assert alone["epochs"] == NO_EPOCH_LIMIT and "max_minutes" not in alone  # the flag's
    assert "max_steps" not in alone  # the time is the plan
    capped = recipe_schedule(_args("--max-minutes", "1", "--max-steps", "9"), mnist)
    assert "max_steps" not in capped and capped["epochs"] == NO_EPOCH_LIMIT


def test_a_small_folder_gets_a_smaller_batch(tmp_path):
    assert fit_batch(128, 100_000) == 128
    assert fit_batch(128, 1024) == 128  # 8 batches an epoch
    assert fit_batch(128, 1023) == 64
    assert fit_batch(128, 200) == 16  # 12 batches an epoch, not 1
    assert fit_batch(128, 40) == 16  # never below 16 ...
    assert fit_batch(128, 10) == 10  # ... nor above the images there are
    photos = RECIPES["folder"]
    assert recipe_schedule(_args(), photos, 200)["batch_size"] == 16
    assert recipe_schedule(_args("--batch-size", "128"), photos, 200)["batch_size"] == 128
    assert recipe_schedule(_args(), photos, None)["batch_size"] == 128  # large or unknown

    folder = tmp_path / "photos"
    (folder / "train").mkdir(parents=True)
    for i in range(5):
        (folder / "train" / f"{i}.png").write_bytes(b"")
    (folder / "train" / ".hidden.png").write_bytes(b"")
    (folder / "train" / "notes.txt").write_bytes(b"")
    assert count_training_images(_args("--dataset", str(folder)), 100) == 5
    assert count_training_images(_args("--dataset", str(folder)), 3) == 3  # enough: stops
    assert count_training_images(_args("--dataset", str(folder), "--train-subset", "2"), 9) == 2
    assert count_training_images(_args("--dataset", "mnist"), 100) is None
    assert count_training_images(_args("--dataset", str(tmp_path / "none")), 100) is None


def test_the_recipe_is_recorded_and_flags_override_it(tmp_path, capsys):
    out = tmp_path / "mnist"
    assert main(["train", "--out", str(out), *SHORT, "--no-progress"]) == 0
    plan = capsys.readouterr().out.splitlines()[0]
    assert plan.startswith("training on mnist (64 channels, 128 codes of dimension 16, batch 64")
    config = json.loads((out / "config.json").read_text())
    model, train = config["model"], config["train"]
    assert (model["hidden_channels"], model["quantizer"]["codebook_size"]) == (64, 128)
    assert (model["quantizer"]["code_dim"], train["batch_size"], train["lr"]) == (16, 64, 2e-3)

    other = tmp_path / "folder"
    argv = ["train", "--out", str(other), "--dataset", DIGITS, *SHORT, "--hidden", "16"]
    assert main([*argv, "--batch-size", "4", "--no-progress"]) == 0
    config = json.loads((other / "config.json").read_text())
    assert config["model"]["hidden_channels"] == 16  # the flag
    assert config["model"]["quantizer"]["codebook_size"] == 512  # the folder recipe
    assert config["train"]["batch_size"] == 4


@pytest.mark.parametrize("levels, k", [("4,4", 16)])
def test_fsq_levels_decide_the_codebook_size(tmp_path, levels, k):
    out = tmp_path / "fsq"
    argv = ["train", "--out", str(out), *SHORT, "--quantizer", "fsq", "--levels", levels]
    assert main([*argv, "--code-dim", "2", "--hidden", "8", "--no-progress"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["quantizer"]["codebook_size"] == k


def test_little_data_for_the_model_is_said_once(tmp_path, capsys):
    from vqvae import VQVAE
    from vqvae.config import QuantizerConfig, VQVAEConfig
    from vqvae.train.loop import too_small_note

    quantizer = QuantizerConfig(kind="ema", codebook_size=512, code_dim=64)
    model = VQVAE(VQVAEConfig(hidden_channels=128, quantizer=quantizer, in_channels=3))
    assert too_small_note(200, (64, 64), model) is None  # 2.5M values, 51 200 code vectors
    note = too_small_note(40, (64, 64), model)  # 492k values, fewer than the parameters
    assert note.startswith("note: 40 training images (491,520 pixel values, 10,240 code")
    assert too_small_note(400, (16, 16), model).startswith("note: 400 training images")

    out = tmp_path / "few"
    argv = ["train", "--out", str(out), "--dataset", DIGITS, *SHORT, "--no-progress"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "batch 8;" in lines[0]  # the folder's 8 digits, not 128
    assert sum(line.startswith("note: 8 training images") for line in lines) == 1
