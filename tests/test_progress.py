"""Long steps show progress on stderr; ``--quiet`` shows nothing."""

import pytest

from vqvae import progress
from vqvae.cli import main
from vqvae.codec import PRETRAINED_MNIST


@pytest.fixture
def loud(monkeypatch):
    """Progress on, and shown at once (no 2-second grace)."""
    monkeypatch.setattr(progress, "DELAY", 0.0)
    monkeypatch.setattr(progress, "_quiet", False)


EVAL = ["eval", str(PRETRAINED_MNIST), "--limit", "400", "--batch-size", "40", "--json"]


def test_a_long_step_prints_a_line_per_tenth(loud, capsys):
    assert main(EVAL) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("evaluating: 10% (40/400 img")
    assert err[-1].startswith("evaluating: 100% (400/400 img")
    assert len(err) == 10


def test_quiet_prints_nothing_on_stderr(loud, capsys):
    assert main([*EVAL, "--quiet"]) == 0
    out = capsys.readouterr()
    assert out.err == "" and out.out.startswith("{")


def test_short_steps_stay_silent(monkeypatch, capsys):
    monkeypatch.setattr(progress, "_quiet", False)
    monkeypatch.setattr(progress, "DELAY", 3600.0)  # every step here is "short"
    assert capsys.readouterr().err == ""


def test_progress_lines_and_postfix(loud, capsys):
    with progress.Progress(4, "work", "item") as p:
        p.set_postfix(loss="0.5")
        for _ in range(4):
            p.update()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4 and lines[1].startswith("work: 50% (2/4 item")
    assert lines[1].endswith(", loss 0.5)")
    assert list(progress.track(range(3), desc="t")) == [0, 1, 2]
