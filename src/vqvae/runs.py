"""A run dir as an object: ``Run(path)`` answers what the CLI and the benchmarks ask of a run.

::

    Run(path)  .config          config.json as written by ``vqvae train``
               .model           the VQ-VAE with its code assignment rule (eval mode)
               .dataset(split)  the split of the data it was trained on (one rule, below)
               .codes(split)    that split's code maps, cached in RUN_DIR/codes
               .prior           the prior over its codes (RUN_DIR/prior)
               .codec(name)     model + entropy model, for compress / decompress

Every subcommand is a thin layer over it, so "which dataset", "which codes" and "which
entropy model" are decided once.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from . import checkpoint, pretrained
from .codec import Codec
from .codec import load as load_codec
from .config import TrainConfig
from .data import ImageDataset
from .data.audio import AudioDataset, load_audio_dataset
from .data.codes import CodeDataset, encode_dataset, load_codes
from .data.download import default_cache_dir
from .data.streamed import load_images
from .device import resolve_device
from .errors import CheckpointError, DataError
from .models import VQVAE, is_audio
from .priors import TransformerPrior, load_prior, weights_fingerprint

CODES_DIR = "codes"


class Run:
    """A ``vqvae train`` run directory.

    Args:
        path: the run dir (it must hold a config.json written by ``vqvae train``), or the
            name of a shipped model ("mnist", ...; a run dir of that name wins).
        device: where the model runs ("cpu", "cuda", "auto", ...).

    Raises:
        CheckpointError: ``path`` is not a run dir.
    """

    def __init__(self, path: str | os.PathLike, device: str | torch.device = "cpu") -> None:
        self.path = pretrained.resolve(path)
        self.config: dict[str, Any] = checkpoint.read_run_config(self.path)
        self.device = device if isinstance(device, torch.device) else resolve_device(device)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @cached_property
    def train_config(self) -> TrainConfig:
        """The ``train`` section of config.json (what ``vqvae train`` was given), checked.

        Raises:
            CheckpointError: a setting of the wrong type or range.
        """
        try:
            return TrainConfig.from_dict(self.config.get("train", {}))
        except (TypeError, ValueError) as exc:
            path = self.path / checkpoint.CONFIG_FILE
            raise CheckpointError(f"{path}: invalid training settings: {exc}") from None

    @cached_property
    def model(self) -> VQVAE:
        """The VQ-VAE on ``device``, in eval mode, with the assignment rule it trained with."""
        return VQVAE.from_pretrained(self.path, map_location=self.device)

    @property
    def fingerprint(self) -> str:
        """sha256 prefix of the weights file (what codes and priors are stamped with)."""
        return weights_fingerprint(self.path)

    def dataset(
        self,
        split: str = "test",
        dataset: str | None = None,
        data_dir: str | None = None,
        limit: int | None = None,
    ) -> ImageDataset | AudioDataset:
        """A split of ``dataset`` (default: the one the run was trained on); for an audio model
        its whole clips, resampled to the model's rate (``data.audio.load_audio_dataset``).

        The one rule: with no ``dataset`` the run's own (its name, its ``data_dir`` unless
        one is given, and its ``random_crop`` size as a centre crop); with a ``dataset``, that
        one, found through ``data_dir`` (or the usual search), uncropped. ``limit``: only the
        first N images.

        Raises:
            DataError: the data cannot be found, or has another channel count than the model.
        """
        train = self.train_config.data
        name = dataset or train.dataset
        if data_dir is None and dataset is None:
            data_dir = train.data_dir
        if is_audio(self.model):  # whole clips at the model's rate
            audio = load_audio_dataset(name, split, data_dir, self.model.sample_rate)
            return audio.subset(limit) if limit else audio
        crop = train.random_crop if dataset is None else None
        data = load_images(name, split, data_dir, center_crop=crop)  # big folders stream
        channels = self.model.config.in_channels
        if data.channels != channels:
            raise DataError(
                f"{name} has {data.channels}-channel images, the model expects {channels}"
            )
        return data.subset(limit) if limit else data

    def codes(
        self,
        split: str,
        codes_dir: str | os.PathLike | None = None,
        dataset: str | None = None,
        data_dir: str | None = None,
        log=print,
    ) -> CodeDataset:
        """Code maps of ``split`` from ``codes_dir`` (default RUN_DIR/codes; for a shipped
        model, the user's cache: the package is not written to), encoding them (with the
        model's assignment rule) if missing.

        Codes cached for other weights are encoded again in the default dir; in an explicit
        ``codes_dir`` they are an error.
        """
        folder = Path(codes_dir) if codes_dir else self.codes_dir
        fingerprint = self.fingerprint
        if (folder / f"{split}.json").is_file():
            codes = load_codes(folder, split)
            if codes.meta.get("vqvae_fingerprint") == fingerprint:
                return codes
            if codes_dir:
                raise DataError(f"{folder}: codes were made by other VQ-VAE weights")
        elif codes_dir:
            raise DataError(f"{folder / (split + '.json')}: not found (run `vqvae encode-dataset`)")
        log(f"encoding the {split} split into {folder}")
        data = self.dataset(split, dataset, data_dir)
        encode_dataset(self.model, data, folder, split, fingerprint, device=self.device)
        return load_codes(folder, split)

    @property
    def codes_dir(self) -> Path:
        """Where ``codes`` caches code maps: RUN_DIR/codes, or the cache for a shipped model."""
        if self.path.resolve().parent == pretrained.ROOT:
            return default_cache_dir() / CODES_DIR / f"{self.path.name}-{self.fingerprint}"
        return self.path / CODES_DIR

    @property
    def shipped(self) -> bool:
        """Whether this is a model shipped in the package (read-only: nothing is written there)."""
        return self.path.resolve().parent == pretrained.ROOT

    def writable(self, command: str) -> Path:
        """The run dir, for a command that writes into it (not the package's folder).

        Raises:
            CheckpointError: a shipped model (one line saying what to do instead).
        """
        if self.shipped:
            name = self.path.name
            raise CheckpointError(
                f"{name} is a shipped model, not a run directory; {command} writes into a run "
                f"directory: copy it first (cp -r {self.path} RUN_DIR) and pass RUN_DIR"
            )
        return self.path

    @cached_property
    def prior(self) -> TransformerPrior:
        """The prior over this run's codes (CPU, eval mode).

        Raises:
            CheckpointError: the run has no prior, or one trained for other weights; for a
                shipped model without one, the message names the shipped models with one.
        """
        if self.shipped and not (self.path / "prior" / checkpoint.CONFIG_FILE).is_file():
            with_prior = [
                name
                for name in pretrained.names()
                if (pretrained.ROOT / name / "prior" / checkpoint.CONFIG_FILE).is_file()
            ]
            same = [n for n in with_prior if n.startswith(f"{self.path.name}-")]
            hint = f"use {same[0]}" if same else f"shipped models with one: {', '.join(with_prior)}"
            raise CheckpointError(f"the shipped model {self.path.name} has no prior; {hint}")
        return load_prior(self.path)

    def codec(self, entropy_model: str | None = None) -> Codec:
        """The model and entropy model ``entropy_model`` (None: the best the run has)."""
        return load_codec(self.path, entropy_model, self.device)
