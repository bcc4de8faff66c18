"""Helpers shared by the prior's subcommands: the run's codes dir, prior and dataset."""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from ..checkpoint import read_run_config
from ..data import load_dataset
from ..data.codes import CodeDataset, encode_dataset, load_codes
from ..errors import DataError
from ..models import VQVAE
from ..priors import weights_fingerprint
from ..train.context_rate import training_assignment

CODES_DIR = "codes"


def run_dataset(run_dir: str, dataset: str | None, data_dir: str | None, split: str, model: VQVAE):
    """The dataset split to encode: ``dataset`` or (default) the one the run was trained on."""
    train_cfg = read_run_config(run_dir).get("train", {})
    name = dataset or train_cfg.get("dataset", "mnist")
    if data_dir is None and dataset is None:
        data_dir = train_cfg.get("data_dir")
    crop = train_cfg.get("random_crop") if dataset is None else None
    data = load_dataset(name, split, data_dir, center_crop=crop)
    if data.channels != model.config.in_channels:
        raise DataError(
            f"{name} has {data.channels}-channel images, the model expects "
            f"{model.config.in_channels}"
        )
    return data


def cached_codes(
    run_dir: str,
    model: VQVAE,
    codes_dir: str | None,
    split: str,
    dataset: str | None = None,
    data_dir: str | None = None,
    log=print,
) -> CodeDataset:
    """Codes of ``split`` from ``codes_dir`` (default RUN_DIR/codes), encoding them if missing.

    Codes cached for other VQ-VAE weights are encoded again (only in the default dir; an
    explicit dir with stale codes is an error).
    """
    folder = Path(codes_dir) if codes_dir else Path(run_dir) / CODES_DIR
    fingerprint = weights_fingerprint(run_dir)
    if (folder / f"{split}.json").is_file():
        codes = load_codes(folder, split)
        if codes.meta.get("vqvae_fingerprint") == fingerprint:
            return codes
        if codes_dir:
            raise DataError(f"{folder}: codes were made by other VQ-VAE weights")
    elif codes_dir:
        raise DataError(f"{folder / (split + '.json')}: not found (run `vqvae encode-dataset`)")
    log(f"encoding the {split} split into {folder}")
    data = run_dataset(run_dir, dataset, data_dir, split, model)
    code_cost = training_assignment(run_dir, model)  # as the model was trained
    with torch.no_grad():
        encode_dataset(model, data, folder, split, fingerprint, code_cost=code_cost)
    return load_codes(folder, split)


def parse_label(label: int | None, num_classes: int) -> int | None:
    if label is None:
        return None
    if num_classes == 0:
        raise DataError("--label: this prior was trained without class labels")
    if not 0 <= label < num_classes:
        raise DataError(f"--label must lie in [0, {num_classes}), got {label}")
    return label


def check_sampling_args(temperature: float, top_k: int | None, n: int) -> None:
    if temperature <= 0:
        raise DataError(f"--temperature must be > 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise DataError(f"--top-k must be >= 1, got {top_k}")
    if n < 1:
        raise DataError(f"-n must be >= 1, got {n}")


def single_threaded(run):
    """Run a subcommand with one intra-op thread (restored after): the prior's one-token steps
    on small matrices gain nothing from more threads, which only spin on a busy machine."""

    @functools.wraps(run)
    def wrapper(args):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return run(args)
        finally:
            torch.set_num_threads(threads)

    return wrapper
