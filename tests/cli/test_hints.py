"""Help texts, hints and defaults a new user meets (#36): shipped names where they work,
hints that point to shipped models, complete choices, --device auto, flags in range."""

from __future__ import annotations

import argparse

import pytest

from vqvae.cli import build_parser, main


def _refused(capsys, argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("vqvae: error: "), err
    return err


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_device_defaults_to_auto_everywhere():
    for name, sub in _subparsers().items():
        for action in sub._actions:
            if "--device" in action.option_strings:
                assert action.default in ("auto", None), (
                    name,
                    action.default,
                )  # train: None = auto


@pytest.mark.parametrize(
    "command", ["eval", "reconstruct", "encode", "decode", "denoise", "encode-dataset", "export"]
)
def test_help_says_where_shipped_names_work(command):
    subs = _subparsers()
    if command not in subs:
        pytest.skip(f"no {command} subcommand")
    text = subs[command].format_help()
    assert "shipped model" in " ".join(text.split()), text


def test_entropy_model_choices_are_complete():
    text = " ".join(_subparsers()["compress"].format_help().split())
    for name in ("prior", "context", "static", "uniform"):
        assert name in text


def test_sample_of_a_shipped_model_without_prior_points_to_one(tmp_path, capsys):
    err = _refused(capsys, ["sample", "mnist", "-n", "1", "-o", str(tmp_path / "s.png")])
    assert "mnist-prior" in err and "train-prior" not in err, err
    assert not (tmp_path / "s.png").exists()


@pytest.mark.parametrize("command", ["fit-entropy", "train-prior"])
def test_a_shipped_name_is_not_a_folder_to_write(tmp_path, capsys, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    err = _refused(capsys, [command, "mnist", "--device", "cpu"])
    assert "shipped model" in err and "cp -r" in err, err
    assert list(tmp_path.iterdir()) == []  # no stray ./mnist/


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["compress", "examples/speech.wav", "--refine-steps", "10000"], "--refine-steps"),
        (["train-prior", "mnist", "--seed", "-1"], "--seed"),
        (["train", "--seed", str(2**32)], "--seed"),
    ],
)
def test_flags_out_of_range_name_the_limit(tmp_path, capsys, monkeypatch, argv, flag):
    monkeypatch.chdir(tmp_path)
    err = _refused(capsys, argv)
    assert flag in err and "must be an integer in" in err, err
    assert list(tmp_path.iterdir()) == []


def test_a_batch_larger_than_the_limit_is_refused_before_anything_is_written(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    err = _refused(capsys, ["train", "--out", "run", "--batch-size", "65536"])
    assert "--batch-size must be in [1, 4096], got 65536" in err
    assert list(tmp_path.iterdir()) == []
