"""One CLI grammar: every subcommand documents itself, and -o / --out-dir mean one thing.

``-o/--output`` is a file (one output), ``--out-dir`` a folder (many); the old folder
spellings still work for one release, with a one-line note on stderr.
"""

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch

from vqvae import VQVAE, QuantizerConfig, VQVAEConfig
from vqvae.cli import build_parser, main

DIGITS = Path(__file__).parents[2] / "examples" / "digits"
IMAGES = sorted(str(p) for p in DIGITS.glob("*.png"))[:2]
TINY_MODEL = VQVAEConfig(
    hidden_channels=8,
    res_channels=4,
    num_res_blocks=1,
    quantizer=QuantizerConfig(codebook_size=16, code_dim=4, kmeans_init=False),
)


def _subcommands() -> argparse._SubParsersAction:
    parser = build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


COMMANDS = sorted(_subcommands().choices)


def _has_default(action: argparse.Action) -> bool:
    return action.default not in (None, False, argparse.SUPPRESS)


def test_every_subcommand_has_a_one_line_help(capsys):
    helps = {a.dest: a.help for a in _subcommands()._choices_actions}
    assert sorted(helps) == COMMANDS
    for command, text in helps.items():
        assert text and "\n" not in text, command
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    flat = "".join(capsys.readouterr().out.split())
    for text in helps.values():
        assert "".join(text.split()) in flat


@pytest.mark.parametrize("command", COMMANDS)
def test_help_describes_the_command_and_every_argument(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "``" not in out
    sub = _subcommands().choices[command]
    assert sub.description and "``" not in sub.description
    flat = "".join(out.split())  # the help is wrapped to the terminal's width
    formatter = sub._get_formatter()
    for action in sub._actions:
        name = "/".join(action.option_strings) or action.dest
        assert action.help and action.help.strip(), f"{command} {name}: no help"
        shown = formatter._expand_help(action)
        assert "".join(shown.split()) in flat, f"{command} {name}: help not shown"
        if _has_default(action):
            assert "default" in shown.lower(), f"{command} {name}: default not shown"


def test_a_default_is_shown_once():
    sub = _subcommands().choices["train-prior"]
    formatter = sub._get_formatter()
    helps = {a.dest: formatter._expand_help(a) for a in sub._actions}
    assert helps["lr"].endswith("(default: 0.002)")
    assert helps["epochs"] == "passes over the codes (default 20)"  # says so itself
    assert "default" not in helps["max_steps"]  # None: no default to show


@pytest.mark.parametrize(
    "command", sorted(set(COMMANDS) - {"corrupt", "models", "export"})
)  # no model run (export traces on the CPU)
def test_every_command_that_runs_a_model_takes_device(command):
    assert "--device" in _subcommands().choices[command]._option_string_actions


def test_deprecated_spellings_are_hidden_from_help(capsys):
    with pytest.raises(SystemExit):
        main(["encode-dataset", "--help"])
    out = capsys.readouterr().out
    assert "--out-dir OUT_DIR" in out
    assert "-o OUT_DIR" not in out and "--out OUT_DIR" not in out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    VQVAE(TINY_MODEL).save_pretrained(out)
    np.save(out / "codes.npy", np.zeros((2, 7, 7), np.uint16))
    return out


def _argv(command: str, run: Path) -> list[str]:
    return {
        "reconstruct": ["reconstruct", str(run), *IMAGES],
        "decode": ["decode", str(run), str(run / "codes.npy")],
        "corrupt": ["corrupt", *IMAGES, "--noise", "mask:0.2"],
        "denoise": ["denoise", str(run), *IMAGES],
        "encode-dataset": ["encode-dataset", str(run), "--dataset", str(DIGITS), "--split", "test"],
    }[command]


@pytest.mark.parametrize(
    "command, old",
    [
        ("reconstruct", "-o"),
        ("decode", "-o"),
        ("corrupt", "-o"),
        ("denoise", "-o"),
        ("encode-dataset", "-o"),
        ("encode-dataset", "--out"),
    ],
)
def test_old_output_folder_spelling_works_with_one_note(command, old, run_dir, tmp_path, capsys):
    new_dir, old_dir = tmp_path / "new", tmp_path / "old"
    assert main([*_argv(command, run_dir), "--out-dir", str(new_dir)]) == 0
    assert capsys.readouterr().err == ""
    assert main([*_argv(command, run_dir), old, str(old_dir)]) == 0
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"vqvae: note: {old} for an output folder is deprecated; use --out-dir"
    ]
    written = sorted(p.name for p in new_dir.iterdir())
    assert written and sorted(p.name for p in old_dir.iterdir()) == written


@pytest.mark.parametrize(
    "command", ["reconstruct", "decode", "corrupt", "denoise", "encode-dataset"]
)
def test_out_dir_is_required(command, run_dir, capsys):
    assert main(_argv(command, run_dir)) == 2  # a one-line usage error
    err = capsys.readouterr().err
    assert "--out-dir" in err and err.count("\n") == 1, err


@pytest.mark.parametrize(
    "argv",
    [
        ["sample", "-o", "grid.png"],
        ["complete", IMAGES[0], "--keep", "top", "-o", "grid.png"],
        ["eval-prior"],
    ],
)
def test_prior_commands_resolve_device(argv, run_dir, capsys):
    assert main([argv[0], str(run_dir), *argv[1:], "--device", "tpu"]) == 2
    assert "--device must be auto, cpu, cuda" in capsys.readouterr().err
