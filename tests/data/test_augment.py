"""Speech augmentation (``vqvae.data.augment``) and the FSDD speaker split."""

import numpy as np
import pytest
import torch

from vqvae.data.audio import FSDD_HELDOUT_SPEAKERS, AudioDataset, load_audio_dataset
from vqvae.data.augment import SpeechAugment, _add_noise, _band_limit, _to_length
from vqvae.errors import DataError

RATE = 8000


def _dataset(augment=None) -> AudioDataset:
    t = torch.arange(3 * RATE) / RATE
    samples = (0.5 * torch.sin(2 * torch.pi * 220 * t)).float()
    offsets = torch.tensor([0, RATE, 2 * RATE, 3 * RATE])
    return AudioDataset(samples, offsets, RATE, "tones", segment=1600, augment=augment)


def test_augmented_batches_have_the_shape_and_levels_asked_for_and_are_seeded():
    data = _dataset(SpeechAugment(RATE, probability=1.0))
    x = data.batch(torch.tensor([0, 1, 2, 0]), torch.Generator().manual_seed(0))
    assert x.shape == (4, 1, 1600) and torch.isfinite(x).all()
    peaks_db = 20 * torch.log10(x.abs().amax(dim=(1, 2)))
    assert ((peaks_db >= -41.01) & (peaks_db <= -0.99)).all()
    again = data.batch(torch.tensor([0, 1, 2, 0]), torch.Generator().manual_seed(0))
    assert torch.equal(x, again)
    other = data.batch(torch.tensor([0, 1, 2, 0]), torch.Generator().manual_seed(1))
    assert not torch.equal(x, other)


def test_without_augmentation_batches_are_unchanged():
    plain = _dataset().batch(torch.tensor([1, 2]), torch.Generator().manual_seed(3))
    starts = (torch.rand(2, generator=torch.Generator().manual_seed(3)) * RATE).long()
    expected = torch.stack([_dataset().samples[RATE * (i + 1) + s :][:1600] for i, s in
                            zip(range(2), starts.tolist(), strict=True)])  # fmt: skip
    assert torch.equal(plain[:, 0], expected)


def test_speed_perturbation_shifts_the_pitch():
    t = torch.arange(1760) / RATE  # 1.1 x 1600 samples of a 200 Hz tone
    tone = torch.sin(2 * torch.pi * 200 * t)
    faster = _to_length(tone, 1600)  # played 1.1 times faster: 220 Hz
    peak = int(np.argmax(np.abs(np.fft.rfft(faster.numpy()))))
    assert abs(peak * RATE / 1600 - 220) <= RATE / 1600


def test_band_limit_removes_what_is_outside_the_band():
    t = torch.arange(RATE) / RATE
    x = (torch.sin(2 * torch.pi * 3900 * t) + torch.sin(2 * torch.pi * 20 * t))[None]
    kept = _band_limit(x, RATE, torch.tensor([True]), torch.Generator().manual_seed(0))
    assert kept.abs().max() < 5e-3  # 20 Hz is below every high-pass, 3.9 kHz above every low-pass
    untouched = _band_limit(x, RATE, torch.tensor([False]), torch.Generator().manual_seed(0))
    assert torch.allclose(untouched, x, atol=1e-5)


def test_noise_is_20_to_40_db_below_the_signal():
    x = torch.sin(torch.arange(RATE) * 0.1)[None].repeat(8, 1)
    noisy = _add_noise(x, torch.ones(8, dtype=torch.bool), torch.Generator().manual_seed(0))
    snr = 10 * torch.log10(x.pow(2).mean(1) / (noisy - x).pow(2).mean(1))
    assert ((snr > 19) & (snr < 41)).all()


def test_the_speaker_split_keeps_the_heldout_voices_out_of_training(shared_data):
    train = load_audio_dataset("fsdd-speakers", "train", shared_data)
    test = load_audio_dataset("fsdd-speakers", "test", shared_data)
    heldout = load_audio_dataset("fsdd-heldout", "test", shared_data)

    def speakers(data):
        return {p.stem.split("_")[1] for p in data.paths}

    assert speakers(train) == speakers(test) == {"george", "jackson", "lucas", "yweweler"}
    assert speakers(heldout) == set(FSDD_HELDOUT_SPEAKERS)
    assert (len(train), len(test), len(heldout)) == (1800, 200, 1000)
    with pytest.raises(DataError, match="held out of all training"):
        load_audio_dataset("fsdd-heldout", "train", shared_data)
