"""Decoder-only training on a finished run's frozen codes (``vqvae train-decoder``).

The encoder and the quantizer of the source run are copied and frozen (no gradients, the
quantizer in eval mode: no EMA updates, no restarts), so every image gets exactly the codes the
source run gives it. Only the decoder learns: the source's, continued, when the sizes are the
same, or a new one of another size (an asymmetric autoencoder: a bigger decoder buys PSNR at
the same bits). Because the codes do not change, the source's probability models
(``entropy.json``, the prior, the context model) stay valid for the new run and are carried over.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from .. import checkpoint
from ..config import VQVAEConfig
from ..entropy.tables import StaticEntropyModel
from ..errors import CheckpointError
from ..models import VQVAE
from ..priors import PRIOR_DIR, weights_fingerprint
from ..priors.context import CONTEXT_DIR

ENTROPY_FILE = StaticEntropyModel.FILE  # the static code distribution of ``vqvae fit-entropy``
STAMPED_DIRS = {PRIOR_DIR: "prior", CONTEXT_DIR: "context"}
"""Probability models over the codes, stamped with the weights they model: folder -> kind."""


def frozen_modules(model: VQVAE) -> tuple[torch.nn.Module, ...]:
    """The parts that make the codes: encoder and quantizer."""
    return model.encoder, model.quantizer


def _code_tensors(model: VQVAE) -> dict[str, torch.Tensor]:
    return model.part_state("encoder", "quantizer")


ENCODER_KEYS = (
    "modality", "arch", "in_channels", "hidden_channels", "res_channels", "num_res_blocks",
)  # fmt: skip
"""Config keys that shape the encoder: the source's and the new model's must agree."""
CODE_KEYS = ("downsample_factor", "strides", "sample_rate", "quantizer")
"""Config keys that shape the codes (images: ``downsample_factor``; audio: ``strides`` and
``sample_rate``); a key one modality lacks is None on both sides."""


def _decoder_sizes(config: VQVAEConfig) -> tuple[int, int, int]:
    built = config.decoder_config()
    return built.hidden_channels, built.res_channels, built.num_res_blocks


def with_decoder_sizes(
    source: VQVAEConfig,
    hidden: int | None = None,
    res_channels: int | None = None,
    res_blocks: int | None = None,
) -> VQVAEConfig:
    """The source's config with a decoder of the given sizes (None: keep the source decoder's)."""
    current = source.decoder_config()
    return source.replace(
        decoder_hidden_channels=current.hidden_channels if hidden is None else hidden,
        decoder_res_channels=current.res_channels if res_channels is None else res_channels,
        decoder_res_blocks=current.num_res_blocks if res_blocks is None else res_blocks,
    )


def load_codes_from(model: VQVAE, source_run: str | Path) -> None:
    """Copy the source run's encoder and quantizer into ``model``, and its decoder too when
    ``model``'s has the same sizes (training then continues it). CheckpointError if the
    encoder or quantizer settings differ."""
    source = VQVAE.from_pretrained(source_run)
    ours, theirs = model.config.to_dict(), source.config.to_dict()
    for key in ENCODER_KEYS:
        if ours.get(key) != theirs.get(key):
            raise CheckpointError(
                f"{source_run}: its encoder has {key}={theirs.get(key)}, this model {ours.get(key)}"
            )
    if any(ours.get(key) != theirs.get(key) for key in CODE_KEYS):
        raise CheckpointError(f"{source_run}: another quantizer or downsampling than this model")
    same_decoder = _decoder_sizes(model.config) == _decoder_sizes(source.config)
    state = source.state_dict() if same_decoder else _code_tensors(source)
    missing = model.load_state_dict(state, strict=False).missing_keys
    if any(not k.startswith("decoder.") for k in missing):
        raise CheckpointError(f"{source_run}: encoder or quantizer weights missing")
    model.assignment = source.assignment  # the codes are chosen the source's way


def freeze_codes(model: VQVAE) -> None:
    """No gradients for the encoder and the quantizer; call ``hold_codes`` after ``train()``."""
    for module in frozen_modules(model):
        module.requires_grad_(False)


def hold_codes(model: VQVAE) -> None:
    """Keep the frozen parts in eval mode (the quantizer then updates no statistics)."""
    for module in frozen_modules(model):
        module.eval()


def carry_over(source_run: str | Path, run_dir: str | Path) -> list[str]:
    """Copy the source's probability models into ``run_dir`` once its codes are checked equal.

    The prior and the context model are stamped with the new weights' fingerprint (they model
    the same codes); one that was stale for the source is left behind. Returns what was (not)
    copied, for a message.
    """
    source_run, run_dir = Path(source_run), Path(run_dir)
    source, model = VQVAE.from_pretrained(source_run), VQVAE.from_pretrained(run_dir)
    theirs, ours = _code_tensors(source), _code_tensors(model)
    if theirs.keys() != ours.keys() or any(not torch.equal(theirs[k], ours[k]) for k in theirs):
        raise CheckpointError(
            f"{run_dir}: its encoder or quantizer differs from {source_run}'s; "
            "the source's probability models do not apply"
        )
    copied = []
    if (source_run / ENTROPY_FILE).is_file():
        checkpoint.atomic_write_bytes(
            run_dir / ENTROPY_FILE, (source_run / ENTROPY_FILE).read_bytes()
        )
        copied.append(ENTROPY_FILE)
    for name, kind in STAMPED_DIRS.items():
        if not (source_run / name / checkpoint.CONFIG_FILE).is_file():
            continue
        config = checkpoint.read_run_config(source_run / name, kind=kind)
        if config.get("vqvae_fingerprint") != weights_fingerprint(source_run):
            copied.append(f"not {name} (trained for other weights than {source_run}'s)")
            continue
        folder = run_dir / name
        if folder.exists():
            shutil.rmtree(folder)
        weights = (source_run / name / checkpoint.WEIGHTS_FILE).read_bytes()
        checkpoint.atomic_write_bytes(folder / checkpoint.WEIGHTS_FILE, weights)
        config["vqvae_fingerprint"] = weights_fingerprint(run_dir)
        checkpoint.write_json(folder / checkpoint.CONFIG_FILE, config)
        copied.append(name)
    return copied
