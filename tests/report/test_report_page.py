"""vqvae report end to end: a tiny image run trained a few steps and the shipped speech model
give self-contained pages that headless Chromium renders without a console message and with
something on the screen; the CLI writes atomically and refuses to replace a file without -f."""

import base64
import io
import os
import re
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vqvae.cli import main
from vqvae.report import build_report, svg

TINY = ["--codebook-size", "32", "--code-dim", "8", "--hidden", "16", "--res-channels", "8",
        "--res-blocks", "1", "--batch-size", "32", "--train-subset", "128", "--eval-subset",
        "64", "--no-progress"]  # fmt: skip
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def image_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "run"
    assert main(["train", "--out", str(out), "--epochs", "2", "--seed", "1", *TINY]) == 0
    return out


@pytest.fixture(scope="module")
def image_page(image_run) -> str:
    return build_report(image_run)


@pytest.fixture(scope="module")
def speech_page() -> str:
    return build_report("fsdd")


def render(html: str, folder: Path) -> tuple[Image.Image, list[str]]:
    """The page's screenshot in headless Chromium, and the console messages it logged."""
    page, shot = folder / "page.html", folder / "shot.png"
    page.write_text(html)
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--user-data-dir={folder / 'profile'}", "--enable-logging=stderr", "--v=0",
            f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri()]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=folder)
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert shot.is_file(), done.stderr[-2000:]
    return Image.open(shot).convert("RGB"), console


def colours(img: Image.Image) -> int:
    return len(np.unique(np.asarray(img.resize((600, 1000))).reshape(-1, 3), axis=0))


needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


@needs_chromium
def test_the_console_check_sees_errors_and_the_colour_check_blank_pages(tmp_path):
    bad = "<html><body><script>console.error('boom'); nothing();</script></body></html>"
    img, console = render(bad, tmp_path)
    assert len(console) == 2 and "boom" in console[0]
    assert colours(img) < 5


@needs_chromium
@pytest.mark.parametrize("which", ["image_page", "speech_page"])
def test_chromium_renders_the_page_without_console_messages(which, request, tmp_path):
    img, console = render(request.getfixturevalue(which), tmp_path)
    assert console == []
    assert colours(img) > 200  # charts, pictures, text: not a blank page


def _sources(html: str) -> list[str]:
    return re.findall(r"""\b(?:src|href)\s*=\s*['"]([^'"]*)['"]""", html)


@pytest.mark.parametrize("which", ["image_page", "speech_page"])
def test_pages_are_self_contained(which, request):
    html = request.getfixturevalue(which)
    sources = _sources(html)
    assert sources
    for source in sources:
        assert source.startswith(("data:", "#")), source[:80]
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html and "<link" not in html


def test_image_page_has_curves_codebook_reconstructions_and_rd(image_page):
    for title in ("Training", "Codebook", "Reconstructions", "Rate and distortion"):
        assert f">{title}</h2>" in image_page
    assert "test PSNR (dB)" in image_page and "code perplexity" in image_page  # from metrics.jsonl
    assert "JPEG" in image_page and "code vectors (PCA)" in image_page
    for label in ("JPEG", "WebP"):  # each curve its own colour, not the model's red
        (colour,) = re.findall(
            rf"stroke='(#\w+)'[^<]*/><circle[^>]*/><text[^>]*>{label}<", image_page
        )
        assert colour != svg.PALETTE[1]
    pngs = re.findall(r"src='data:image/png;base64,([^']+)'", image_page)
    assert pngs and Image.open(io.BytesIO(base64.b64decode(pngs[0]))).size[0] > 200


def test_speech_page_has_players_that_decode_to_wav(speech_page):
    wavs = re.findall(r"src='data:audio/wav;base64,([^']+)'", speech_page)
    assert len(wavs) == 5  # the original, then 1, 2, 4 and 8 of the 8 stages
    lengths = set()
    for data in wavs:
        with wave.open(io.BytesIO(base64.b64decode(data))) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
            lengths.add(w.getnframes())
    with wave.open(str(Path(__file__).parents[2] / "examples" / "speech.wav")) as w:
        assert lengths == {w.getnframes()}  # examples/speech.wav, every version as long
    assert "shipped model" in speech_page and "metrics.jsonl" in speech_page  # no log: said
    assert "stage 8: code usage" in speech_page
    for rate in re.findall(r"(\d+) bit/s, PESQ", speech_page):
        assert 200 < int(rate) < 4000


def test_cli_writes_the_page_and_refuses_to_replace_it(image_run, tmp_path, capsys):
    target = tmp_path / "r.html"
    argv = ["report", str(image_run), "-o", str(target), "--images", *_digits(2)]
    assert main(argv) == 0
    first = target.read_text()
    assert first.startswith("<!DOCTYPE html>") and "2 images (given)" in first
    assert main(argv) == 2
    assert "exists; pass -f/--force" in capsys.readouterr().err
    assert target.read_text() == first
    assert main([*argv, "-f"]) == 0
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_cli_refuses_inputs_of_the_other_modality(tmp_path, capsys):
    sound = str(Path(__file__).parents[2] / "examples" / "speech.wav")
    assert main(["report", "mnist", "--sound", sound, "-o", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "vqvae: error: mnist is an image model; --sound is for speech models"
    ]
    assert not (tmp_path / "x.html").exists()


def _digits(n: int) -> list[str]:
    folder = Path(__file__).parents[2] / "examples" / "digits"
    return [str(p) for p in sorted(folder.glob("*.png"))[:n]]


def test_prior_samples_of_a_model_with_a_prior():
    from vqvae.report.images import SAMPLES, prior_section
    from vqvae.runs import Run

    run = Run("mnist-prior")
    section = prior_section(run, run.model)
    (png,) = re.findall(r"src='data:image/png;base64,([^']+)'", section.body)
    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(png))).convert("L"))
    assert f"{SAMPLES} code maps" in section.body and "one per class" in section.body
    assert img.std() > 20  # digits, not a flat picture
