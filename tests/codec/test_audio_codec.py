"""Speech in .vqz files (format version 3): bit-exact round trips, --bitrate, the per-stage
entropy model, a golden stream, the CLI."""

import hashlib
import json
import math
import os
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from vqvae.cli import main
from vqvae.codec import (
    AudioHeader,
    Codec,
    FormatError,
    compress,
    compress_audio,
    decompress,
    decompress_audio,
    decompress_audio_indices,
    decompress_image,
    encode_audio_indices,
    pack_audio,
    read_header,
    stages_for_bitrate,
)
from vqvae.codec import entropy as coding
from vqvae.codec.audio import LEVEL_TARGETS, choose_gain_db, level_gain_db, loudest_stretch
from vqvae.codec.container import parse, write
from vqvae.codec.postfilter import SHARPENING, sharpen
from vqvae.config import QuantizerConfig, VQVAEConfig
from vqvae.data.audio import read_audio, write_audio
from vqvae.entropy.stages import StageEntropyModel, fit_stage_counts
from vqvae.errors import DataError
from vqvae.models import VQVAE

GOLDEN = Path(__file__).parents[1] / "expected" / "audio_golden.json"
REGENERATE = os.environ.get("VQVAE_REGENERATE_GOLDEN") == "1"
RATE = 8000


def tiny_audio_model(seed: int = 0, stages: int = 4, strides=(2, 4)) -> VQVAE:
    """hop 8 (1000 frames/s), K = 16 (4 bits): 4000 bit/s a stage."""
    torch.manual_seed(seed)
    config = VQVAEConfig(
        modality="audio",
        sample_rate=RATE,
        strides=strides,
        in_channels=1,
        hidden_channels=8,
        res_channels=4,
        num_res_blocks=1,
        quantizer=QuantizerConfig(
            kind="rvq", codebook_size=16, code_dim=8, options={"num_stages": stages}
        ),
    )
    return VQVAE(config).eval()


def speech_like(samples: int = 2003, seed: int = 0) -> np.ndarray:
    """Deterministic voiced-ish float32 samples in [-1, 1]."""
    t = np.arange(samples) / RATE
    x = sum(np.sin(2 * np.pi * 140 * k * t + seed) / k for k in range(1, 8))
    return (0.4 * x * np.hanning(samples) / 2).astype(np.float32)


def reference(
    model, x: np.ndarray, k: int, normalize: bool = True, postfilter: float = SHARPENING
) -> np.ndarray:
    """What the codec must give: the model's own decode of its first k stages, of the sound
    brought to the level the codec chose (``choose_gain_db``), sharpened by the postfilter
    (scaled back within full scale if it went past), and brought back."""
    gain = 10.0 ** (choose_gain_db(model, x) / 20.0) if normalize else 1.0
    with torch.no_grad():
        lifted = torch.from_numpy((x * gain).astype(np.float32))
        indices = model.encode(lifted[None, None])[:, :k]
        y = model.decode(indices)[0, 0, : len(x)].clamp(-1, 1).numpy()
    if postfilter != 1.0:
        y = sharpen(y, RATE, postfilter)
        y = y / np.float32(max(1.0, float(np.abs(y).max())))
    return y if gain == 1.0 else np.clip(y / np.float32(gain), -1.0, 1.0)


@pytest.fixture(scope="module")
def model():
    return tiny_audio_model()


@pytest.fixture(scope="module")
def stages_codec(model):
    clips = [torch.from_numpy(speech_like(2000 + 500 * s, seed=s))[None, None] for s in range(4)]
    return Codec(model, StageEntropyModel(fit_stage_counts(model, clips)))


@pytest.mark.parametrize("k", [1, 2, 4])
@pytest.mark.parametrize("samples", [1, 8, 9, 2003])
def test_round_trip_is_bit_exact(model, stages_codec, k, samples):
    x = speech_like(samples)
    for codec in (model, stages_codec):
        data = compress_audio(codec, x, stages=k)
        y, rate = decompress_audio(data, codec)
        assert rate == RATE and y.dtype == np.float32 and y.shape == (samples,)
        assert np.array_equal(y, reference(model, x, k))
        unfiltered, _ = decompress_audio(data, codec, postfilter=1.0)
        assert np.array_equal(unfiltered, reference(model, x, k, postfilter=1.0))
        header, indices, _ = decompress_audio_indices(data, codec)
        assert header.code_shape == (k, -(-samples // 8)) == tuple(indices.shape)
        assert torch.equal(indices, encode_audio_indices(model, x, stages=k))
        full = encode_audio_indices(model, x)  # every stage, then the first k packed
        gain = choose_gain_db(model, x)
        assert pack_audio(codec, full[:k], samples, gain_db=gain) == data


def test_nominal_stage_rates(model):
    assert model.bitrate(1) == 4000.0
    assert stages_for_bitrate(model, 4000) == 1
    assert stages_for_bitrate(model, 11999) == 2
    assert stages_for_bitrate(model, 12000) == 3
    assert stages_for_bitrate(model, 1e9) == 4
    with pytest.raises(DataError, match="below this model's lowest, 4000 bit/s"):
        stages_for_bitrate(model, 3999)


@pytest.mark.parametrize("bitrate", [4500, 9000, 12500, 20000])
def test_bitrate_is_a_ceiling_on_the_file_with_the_most_stages_that_fit(model, bitrate):
    x = speech_like(16000)  # 2 s
    data = compress_audio(model, x, bitrate=bitrate)
    assert len(data) * 8 / 2.0 <= bitrate  # header included
    stages = read_header(data).stages
    assert data == compress_audio(model, x, stages=stages)
    if stages < model.num_stages:  # one more stage would not fit
        assert len(compress_audio(model, x, stages=stages + 1)) * 8 / 2.0 > bitrate
    if bitrate == 9000:
        assert stages == 2


def test_a_bitrate_a_short_sound_cannot_meet_is_refused(model):
    x = speech_like(800)  # 0.1 s: the header alone is over 2 kbit/s
    with pytest.raises(DataError, match="below this sound's lowest"):
        compress_audio(model, x, bitrate=4500)
    with pytest.raises(ValueError, match="not both"):
        compress_audio(model, speech_like(), bitrate=9000, stages=2)
    with pytest.raises(DataError, match="1..4"):
        compress_audio(model, speech_like(), stages=5)


def test_stage_tables_pay_and_keep_the_contract(model, stages_codec):
    x = speech_like(8000, seed=1)
    uniform = compress_audio(model, x)
    staged = compress_audio(stages_codec, x)
    assert read_header(staged).entropy_name == "stages"
    assert len(staged) < len(uniform)
    indices = encode_audio_indices(model, x)
    coding.check_consistency(stages_codec.entropy_model, indices)
    ideal = coding.information_bits(indices, stages_codec.entropy_model)
    header_bytes = len(staged) - read_header(staged).payload_length
    assert (len(staged) - header_bytes) * 8 < ideal * 1.01 + 64
    # a different stage's table for each row: swapping two stages' counts changes the file
    counts = stages_codec.entropy_model.counts.copy()
    swapped = StageEntropyModel(counts[[1, 0, 2, 3]])
    assert compress_audio(Codec(model, swapped), x) != staged


def test_stage_model_refuses_more_rows_than_stages():
    m = StageEntropyModel(np.ones((2, 16)))
    with pytest.raises(ValueError, match="3 rows"):
        m.frequencies(torch.zeros(3, 5, dtype=torch.long), np.arange(3))


def test_other_rates_are_resampled_to_the_models(model):
    x16 = speech_like(8000)  # one second at 16 kHz ...
    data = compress_audio(model, x16, sample_rate=16000)
    header = read_header(data)
    assert isinstance(header, AudioHeader)
    assert (header.sample_rate, header.samples) == (RATE, 4000)  # ... is 4000 samples at 8 kHz


def test_images_and_sounds_do_not_mix(model, tmp_path):
    image_model = VQVAE(
        VQVAEConfig(
            hidden_channels=8,
            res_channels=4,
            num_res_blocks=1,
            quantizer=QuantizerConfig(codebook_size=16, code_dim=4),
        )
    ).eval()
    with pytest.raises(DataError, match="image model"):
        compress_audio(image_model, speech_like())
    sound = compress_audio(model, speech_like())
    with pytest.raises(FormatError, match="audio file"):
        decompress_image(sound, model)
    samples, rate = decompress(sound, model)  # the one entry point reads the header's kind
    assert rate == RATE and samples.shape == (len(speech_like()),)
    with pytest.raises(FormatError, match="another model"):
        decompress(sound, image_model)
    plain, _ = decompress(sound, model, postfilter=1.0)
    assert np.array_equal(plain, decompress_audio(sound, model, postfilter=1.0)[0])
    picture = compress(image_model, torch.zeros(1, 8, 8, dtype=torch.uint8))
    with pytest.raises(FormatError, match="image file"):
        decompress_audio(picture, model)
    with pytest.raises(ValueError, match="postfilter is an option for sound"):
        decompress(picture, image_model, postfilter=1.4)


def test_golden_audio_stream():
    """Pins version 3 bytes (header + per-stage tables + coder), independent of any model's
    weights: set VQVAE_REGENERATE_GOLDEN=1 to rewrite (only on purpose)."""
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 50, size=(3, 16)) ** 2
    model = StageEntropyModel(counts)
    indices = torch.from_numpy(rng.integers(0, 16, size=(2, 37)))
    header = AudioHeader(
        model_fingerprint=bytes(range(8)),
        entropy_name=model.name,
        entropy_fingerprint=model.fingerprint(),
        sample_rate=RATE,
        samples=37 * 160 - 5,
        hop_length=160,
        stages=2,
    )
    data = write(header, coding.encode(indices, model))
    assert torch.equal(coding.decode(data[-4 - read_header(data).payload_length : -4],
                                     (2, 37), model), indices)  # fmt: skip
    values = {"stages_v3": hashlib.md5(data).hexdigest()}
    if REGENERATE:
        GOLDEN.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
    assert values == json.loads(GOLDEN.read_text())


# ---- the CLI ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, model, stages_codec):
    path = tmp_path_factory.mktemp("audio") / "run"
    model.save_pretrained(path)
    counts = stages_codec.entropy_model.counts.astype(np.int64)
    (path / "entropy.json").write_text(
        json.dumps(
            {
                "format_version": 1,
                "kind": "static",
                "counts": counts.sum(0).tolist(),
                "stage_counts": counts.tolist(),
            }
        )
    )
    return path


def test_cli_compress_decompress(capsys, run_dir, tmp_path, model):
    x = speech_like(8000)
    wav = tmp_path / "speech.wav"
    write_audio(wav, x, RATE)
    x16, _ = read_audio(wav)  # what the file holds (16-bit)
    vqz, out = tmp_path / "s.vqz", tmp_path / "out.wav"
    assert main(["compress", str(run_dir), str(wav), "-o", str(vqz), "--bitrate", "6k"]) == 0
    said = capsys.readouterr().out
    assert "2 stages" in said and "bit/s" in said
    header = read_header(vqz.read_bytes())
    assert (header.stages, header.entropy_name, header.samples) == (2, "stages", 8000)
    assert main(["decompress", str(vqz), "-o", str(out), "--model", str(run_dir)]) == 0
    y, rate = read_audio(out)
    expected = np.clip(np.round(reference(model, x16, 2).astype(np.float64) * 32768), -32768, 32767)
    assert rate == RATE and np.array_equal(np.round(y * 32768), expected)
    # --postfilter 1: the decoder's own output
    plain = tmp_path / "plain.wav"
    argv = ["decompress", str(vqz), "-o", str(plain), "--model", str(run_dir), "--postfilter", "1"]
    assert main(argv) == 0
    y, _ = read_audio(plain)
    expected = reference(model, x16, 2, postfilter=1.0).astype(np.float64)
    assert np.array_equal(np.round(y * 32768), np.clip(np.round(expected * 32768), -32768, 32767))
    # --out-dir names sounds .wav
    assert (
        main(["decompress", str(vqz), "--out-dir", str(tmp_path / "d"), "--model", str(run_dir)])
        == 0
    )
    assert (tmp_path / "d" / "s.wav").is_file()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--bitrate", "1k"], "below this model's lowest"),
        (["--bitrate", "fast"], "expected bit/s"),
        (["--bitrate", "-3"], "bitrate > 0"),
        (["--tile", "8"], "--tile applies to images"),
        (["--max-seconds", "0.5"], "over the limit of 0.5 s"),
    ],
)
def test_cli_compress_refuses_in_one_line(capsys, run_dir, tmp_path, argv, message):
    wav = tmp_path / "speech.wav"
    write_audio(wav, speech_like(8000), RATE)
    out = tmp_path / "s.vqz"
    assert main(["compress", str(run_dir), str(wav), "-o", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not out.exists()


@pytest.mark.parametrize("value", ["0.5", "4", "sharp"])
def test_cli_decompress_refuses_a_bad_postfilter_in_one_line(
    capsys, run_dir, tmp_path, model, value
):
    vqz, out = tmp_path / "s.vqz", tmp_path / "s.wav"
    vqz.write_bytes(compress_audio(model, speech_like()))
    argv = ["decompress", str(vqz), "-o", str(out), "--model", str(run_dir), "--postfilter", value]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--postfilter" in err and err.count("\n") == 1
    assert not out.exists()


def test_cli_decompress_to_png_is_refused(capsys, run_dir, tmp_path, model):
    vqz = tmp_path / "s.vqz"
    vqz.write_bytes(compress_audio(model, speech_like()))
    assert (
        main(["decompress", str(vqz), "-o", str(tmp_path / "s.png"), "--model", str(run_dir)]) == 2
    )
    assert "WAV" in capsys.readouterr().err


def test_fit_entropy_on_an_audio_run(capsys, tmp_path, model):
    from vqvae.codec import load

    run = tmp_path / "run"
    model.save_pretrained(run)
    clips = tmp_path / "clips"
    clips.mkdir()
    for i in range(3):
        write_audio(clips / f"c{i}.wav", speech_like(900 + 200 * i, seed=i), RATE)
    assert main(["fit-entropy", str(run), "--dataset", str(clips)]) == 0
    assert "3 clips" in capsys.readouterr().out
    saved = json.loads((run / "entropy.json").read_text())
    stage_counts = np.array(saved["stage_counts"])
    frames = sum(-(-(900 + 200 * i) // 8) for i in range(3))
    assert stage_counts.shape == (4, 16) and (stage_counts.sum(1) == frames).all()
    assert saved["counts"] == stage_counts.sum(0).tolist()
    codec = load(run)
    assert codec.entropy_model.name == "stages"
    assert np.array_equal(codec.entropy_model.counts, stage_counts)
    data = compress_audio(codec, speech_like(), bitrate=8000)
    assert np.array_equal(decompress_audio(data, run)[0], reference(model, speech_like(), 2))


def test_cli_without_a_model_uses_the_speech_model(capsys, monkeypatch, run_dir, tmp_path):
    """No model: compress picks pretrained.for_audio() for a .wav, decompress the shipped model
    of the file's fingerprint (both pointed at the test's run here)."""
    from vqvae import pretrained
    from vqvae.codec import loading

    monkeypatch.setattr(pretrained, "for_audio", lambda: str(run_dir))
    monkeypatch.setattr(loading, "shipped_models_for", lambda fingerprint: [str(run_dir)])
    wav, vqz, out = tmp_path / "a.wav", tmp_path / "a.vqz", tmp_path / "b.wav"
    write_audio(wav, speech_like(), RATE)
    assert main(["compress", str(wav), "-o", str(vqz)]) == 0
    assert read_header(vqz.read_bytes()).entropy_name == "stages"
    assert main(["decompress", str(vqz), "-o", str(out)]) == 0
    assert read_audio(out)[0].shape == (len(speech_like()),)


def test_the_shipped_speech_model_codes_the_example(tmp_path):
    from vqvae import pretrained

    if pretrained.SPEECH not in pretrained.names():
        pytest.skip("this build ships no speech model yet")
    example = Path(__file__).resolve().parents[2] / "examples" / "speech.wav"
    vqz, out = tmp_path / "s.vqz", tmp_path / "s.wav"
    assert main(["compress", str(example), "-o", str(vqz), "--bitrate", "1200"]) == 0
    header = read_header(vqz.read_bytes())
    assert header.entropy_name == "stages" and header.sample_rate == RATE
    assert main(["decompress", str(vqz), "-o", str(out)]) == 0
    x, _ = read_audio(example)
    assert read_audio(out)[0].shape == x.shape
    assert 8 * len(vqz.read_bytes()) / (len(x) / RATE) <= 1200  # a ceiling, header included
    assert header.stages in (2, 3)  # 400 bit/s a stage nominal: as many as fit


def test_level_gains_bring_the_peak_to_a_level_and_never_past_it():
    x = np.float32(0.5) * np.sin(np.linspace(0, 50, 4000, dtype=np.float32))
    gain = level_gain_db(x, -1.0)
    assert gain == math.floor((-1.0 - 20 * math.log10(np.abs(x).max())) * 64) / 64
    assert 20 * math.log10(np.abs(x).max() * 10 ** (gain / 20)) <= -1.0  # never past it
    assert level_gain_db(x, -20.0) < 0  # a loud sound is brought down
    assert level_gain_db(np.zeros(100, np.float32), -1.0) == 0.0  # silence
    assert level_gain_db(x * 1e-6, -1.0) == 60.0  # the most it moves
    y = np.zeros(1000, np.float32)
    y[700:750] = 1.0
    assert np.array_equal(loudest_stretch(y, 100), y[650:750])


def test_the_chosen_gain_is_the_level_whose_decoded_excerpt_is_closest(model, monkeypatch):
    from vqvae.codec import audio

    x = speech_like(4000)
    calls = []
    real = audio.waveform_loss

    def spy(y, reference):
        calls.append(float(real(y, reference)))
        return real(y, reference)

    monkeypatch.setattr(audio, "waveform_loss", spy)
    gain = choose_gain_db(model, x)
    candidates = sorted({0.0, *(level_gain_db(x, t) for t in LEVEL_TARGETS)})
    assert len(calls) == len(candidates) and gain == candidates[int(np.argmin(calls))]
    assert choose_gain_db(model, x) == gain  # deterministic


@pytest.mark.parametrize("level_db", [-50, -30, -10, -1])
def test_a_sound_codes_alike_at_every_level(model, level_db):
    base = speech_like(4000)
    base = (base / np.abs(base).max() * 10 ** (-20 / 20)).astype(np.float32)  # peak -20 dBFS
    x = (base * 10 ** ((level_db + 20) / 20)).astype(np.float32)
    data = compress_audio(model, x)
    header = read_header(data)
    reference = compress_audio(model, base)
    # the same peak level is chosen for both: the codes are those of the same sound
    assert header.gain_db + level_db == pytest.approx(read_header(reference).gain_db - 20, abs=0.02)
    same = (encode_audio_indices(model, x) == encode_audio_indices(model, base)).float()
    assert float(same.mean()) > 0.95  # gains are rounded to 1/64 dB: a code or two may move
    y, _ = decompress_audio(data, model)
    y_base, _ = decompress_audio(reference, model)
    scale = 10 ** ((level_db + 20) / 20)
    assert np.abs(y).max() <= 1.0
    assert np.mean(np.abs(y / scale - y_base)) < 0.05 * np.mean(np.abs(y_base))
    plain = compress_audio(model, x, normalize=False)  # at its own level: no gain field
    assert read_header(plain).gain_db == 0.0 and plain[29] == 1


def test_the_gain_field_round_trips_and_is_checked():
    header = AudioHeader(
        model_fingerprint=b"m" * 8, entropy_name="uniform", entropy_fingerprint=b"e" * 8,
        sample_rate=8000, samples=100, hop_length=8, stages=2, gain_db=23.171875,
    )  # fmt: skip
    data = write(header, b"\0" * 8)
    assert parse(data)[0].gain_db == 23.171875
    without = write(AudioHeader(**{**header.__dict__, "gain_db": 0.0}), b"\0" * 8)
    assert len(data) == len(without) + 2
    with pytest.raises(FormatError, match="bad gain"):
        write(AudioHeader(**{**header.__dict__, "gain_db": 0.001}), b"\0" * 8)
    forged = bytearray(data)
    at = forged.index(bytes([2, 0xC0, 0x3E]))  # modality 2, then the rate 8000
    gain_at = len(data) - 4 - 8 - 1 - 2  # before the payload length and payload
    forged[gain_at : gain_at + 2] = b"\0\0"
    forged[-4:] = zlib.crc32(bytes(forged[:-4])).to_bytes(4, "little")
    assert at > 0
    with pytest.raises(FormatError, match="zero gain"):
        parse(bytes(forged))
