"""Default recipes per dataset: a model size, batch, schedule and number of optimizer steps
that give a good model fast on a laptop CPU. ``vqvae train`` fills every setting the user did
not give from the dataset's recipe (then from the library defaults) and records the result in
the run's config.json.

A recipe's length is counted in steps, not minutes, so that its quality is the same on a
fast, a slow or a busy machine (a busy one takes longer); ``--max-minutes`` only caps it.
The batch of a small image folder shrinks to fit it (``configure.fit_batch``).
RECIPE_TIMES: each recipe's steps as timed on an idle 2-core CPU, evaluations included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NAMED = ("mnist", "fashion-mnist", "cifar10", "fsdd")


@dataclass(frozen=True)
class Recipe:
    """Defaults for one kind of data.

    Attributes:
        name: the recipe's name (a dataset name, or "folder").
        model: model flags of ``vqvae train`` (``hidden``, ``codebook_size``, ...).
        train: flat ``TrainConfig`` fields (``batch_size``, ``lr``, ...).
        steps: the optimizer steps trained when no run length (--epochs, --max-steps,
            --max-minutes) is given.
    """

    name: str
    model: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    steps: int = 3000

    def describe(self) -> str:
        m = self.model
        return (
            f"{m['hidden']} channels, {m['codebook_size']} codes of dimension {m['code_dim']}, "
            f"batch {self.train['batch_size']}"
        )


_DIGITS = Recipe(
    "mnist",
    model={"hidden": 64, "res_channels": 32, "res_blocks": 2, "codebook_size": 128,
           "code_dim": 16, "downsample": 4},
    train={"batch_size": 64, "lr": 2e-3, "lr_schedule": "cosine"},
    steps=4000,
)  # fmt: skip
_PHOTOS = {
    "model": {"hidden": 128, "res_channels": 32, "res_blocks": 2, "codebook_size": 512,
              "code_dim": 64, "downsample": 4},
    "train": {"batch_size": 128, "lr": 1e-3, "lr_schedule": "cosine"},
    "steps": 3000,
}  # fmt: skip
_SPEECH = {  # 50 frames/s x 8 bits = 400 bit/s per stage: 3, 6, 8 stages = 1.2, 2.4, 3.2 kbit/s
    "model": {"hidden": 16, "res_channels": 32, "res_blocks": 3, "codebook_size": 256,
              "code_dim": 64, "downsample": 4, "strides": "2,4,4,5", "quantizer": "rvq",
              "num_stages": 8, "quantizer_dropout": 0.5, "audio_decoder": "istft",
              "decoder_res_blocks": 8},
    "train": {"batch_size": 16, "lr": 1e-3, "lr_schedule": "cosine", "random_crop": 4000},
    "steps": 2000,
}  # fmt: skip
RECIPES = {
    "mnist": _DIGITS,
    "fashion-mnist": Recipe("fashion-mnist", _DIGITS.model, _DIGITS.train, 6000),
    "cifar10": Recipe("cifar10", **_PHOTOS),
    "folder": Recipe("folder", **_PHOTOS),
    "fsdd": Recipe("fsdd", **_SPEECH),
    "audio-folder": Recipe("audio-folder", **_SPEECH),
}


def recipe_for(dataset: str | None) -> Recipe:
    """The recipe of a dataset name (None: MNIST); any other value is a folder of images or
    of audio files (``vqvae.data.audio.is_audio_dataset``)."""
    from ..data.audio import is_audio_dataset

    if dataset in RECIPES or dataset is None:
        return RECIPES[dataset or "mnist"]
    return RECIPES["audio-folder" if is_audio_dataset(dataset) else "folder"]
