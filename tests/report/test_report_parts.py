"""The parts of a report page: SVG charts, media as data URIs, curves from metrics.jsonl,
code counts and code vectors."""

import base64
import io
import json
import wave
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from PIL import Image

from vqvae.config import QuantizerConfig, VQVAEConfig
from vqvae.models import VQVAE
from vqvae.report import codebook, embed, page, svg, training

SVG = "{http://www.w3.org/2000/svg}"


def _parse(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == f"{SVG}svg"
    return root


def test_line_chart_is_valid_svg_with_a_point_per_value_and_a_legend():
    series = [
        svg.Series("ours", [(0.2, 28.0), (0.4, 30.5)], style="points"),
        svg.Series("JPEG <q>", [(0.3, 25.0), (0.6, 29.0), (1.2, float("nan"))]),
    ]
    root = _parse(svg.line_chart(series, "rate & quality", "bpp", "dB", log_x=True))
    circles = root.findall(f".//{SVG}circle")
    assert len(circles) == 2 + 2 + 2  # the points, the finite line markers, the legend
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "rate & quality" in texts and "JPEG <q>" in texts  # escaped, then parsed back
    assert len(root.findall(f".//{SVG}polyline")) == 1


def test_line_chart_without_data_says_so():
    root = _parse(svg.line_chart([svg.Series("a", [])], "t", "x", "y"))
    assert "no data" in [t.text for t in root.iter(f"{SVG}text")]


def test_bar_chart_marks_the_zero_bars_red():
    root = _parse(svg.bar_chart([3, 0, 1, 0], "usage", "code", "uses"))
    fills = [r.get("fill") for r in root.iter(f"{SVG}rect")]
    assert fills.count("#d62728") == 2 and fills.count(svg.PALETTE[0]) == 2


@pytest.mark.parametrize(("lo", "hi"), [(0, 1), (0.013, 0.27), (-5, 37), (1000, 1000)])
def test_nice_ticks_are_round_and_cover_the_range(lo, hi):
    ticks = svg.nice_ticks(lo, hi)
    assert 2 <= len(ticks) <= 12
    assert ticks[0] <= lo and ticks[-1] >= min(hi, ticks[-1])
    steps = np.diff(ticks)
    assert np.allclose(steps, steps[0])
    assert any(np.isclose(steps[0] / 10.0**k, m) for k in range(-4, 5) for m in (1, 2, 2.5, 5))


def test_wav_data_uri_is_a_16_bit_wav_of_the_samples():
    samples = np.sin(np.linspace(0, 100, 8000)) * 0.5
    uri = embed.wav_data_uri(samples, 8000)
    assert uri.startswith("data:audio/wav;base64,")
    with wave.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (
            1, 2, 8000, 8000)  # fmt: skip
        pcm = np.frombuffer(w.readframes(8000), "<i2") / 32767
    assert np.abs(pcm - samples).max() < 1e-4


def test_png_data_uri_keeps_the_pixels():
    x = torch.rand(3, 5, 7)
    uri = embed.png_data_uri(x, scale=2)
    img = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert img.size == (14, 10)
    back = np.asarray(img)[::2, ::2].transpose(2, 0, 1) / 255
    assert np.abs(back - x.numpy()).max() <= 0.5 / 255 + 1e-6


def test_spectrogram_puts_a_tone_at_its_frequency():
    rate, f = 8000, 1000
    tone = np.sin(2 * np.pi * f * np.arange(rate) / rate)
    db = embed.spectrogram(tone)  # (n_fft / 2 + 1, frames)
    assert db.shape[0] == 129
    assert abs(int(db.mean(1).argmax()) - f * 256 // rate) <= 1
    assert db.max() > -10 and db.min() >= -80


def test_page_escapes_text_and_has_no_script():
    html = page.render("<b>", "sub", [page.Section("A & B", page.paragraph("<script>"))])
    assert "<script" not in html and "&lt;script&gt;" in html and "&lt;b&gt;" in html
    assert "href='#a---b'" in html and "id='a---b'" in html


def test_curves_come_from_every_number_of_metrics_jsonl(tmp_path):
    lines = [
        json.dumps({"epoch": 1, "step": 10, "elapsed": 1.0, "psnr": 20.0, "usage": 0.5}),
        json.dumps({"epoch": 2, "step": 20, "elapsed": 2.0, "psnr": 22.0, "usage": 0.7}),
        '{"epoch": 3, "step": 30, "psn',  # cut short by a killed run
    ]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines))
    records = training.read_metrics(tmp_path / "metrics.jsonl")
    assert len(records) == 2
    charts = training.curves(records)
    assert len(charts) == 2 and "test PSNR (dB)" in charts[0] and "code usage" in charts[1]
    section = training_section = training.training_section(tmp_path, {"model": {"a": 1}}, False)
    assert "2 evaluations" in training_section.body and section.title == "Training"


def test_a_run_without_metrics_says_so(tmp_path):
    assert "no metrics.jsonl" in training.training_section(tmp_path, {}, False).body


def _residual_audio_model() -> VQVAE:
    q = QuantizerConfig(kind="rvq", codebook_size=16, code_dim=4, options={"num_stages": 3})
    config = VQVAEConfig(modality="audio", sample_rate=8000, strides=(2, 2), hidden_channels=8,
                         res_channels=4, num_res_blocks=1, quantizer=q)  # fmt: skip
    return VQVAE(config).eval()


def test_code_counts_count_each_stage_over_the_data():
    model = _residual_audio_model()
    clips = [torch.randn(1, 1, 400) * 0.1, torch.randn(2, 1, 64) * 0.1]
    counts = codebook.code_counts(model, clips)
    assert counts.shape == (3, 16)
    assert counts.sum(1).tolist() == [100 + 2 * 16] * 3  # positions per stage
    indices = model.encode(clips[0])
    assert counts[1].sum() >= torch.bincount(indices[0, 1], minlength=16).max()


def test_code_vectors_of_a_stage_are_that_stages_codebook():
    model = _residual_audio_model()
    for stage in range(3):
        vectors = codebook.code_vectors(model, stage)
        ids = torch.full((1, 3, 1), -1)
        ids[0, stage, 0] = 5
        assert torch.allclose(vectors[5], model.quantizer.embed(ids)[0, :, 0])


def test_pca_keeps_a_plane_exactly():
    plane = torch.randn(50, 2) @ torch.randn(2, 6)
    xy, share = codebook.pca_2d(plane)
    assert xy.shape == (50, 2) and share == pytest.approx(1.0)
    d_in = torch.cdist(plane.double(), plane.double())
    assert torch.allclose(torch.cdist(xy.double(), xy.double()), d_in, atol=1e-4)


def test_codebook_section_counts_the_dead_codes():
    model = _residual_audio_model()
    counts = torch.zeros(3, 16, dtype=torch.long)
    counts[:, :10] = 1
    body = codebook.codebook_section(model, counts, "test clips").body
    assert "<td>3</td><td>10</td><td>10</td><td>6</td>" in body  # stage 3: 10 used, 6 dead
    assert body.count("code vectors (PCA)</text>") == 3
