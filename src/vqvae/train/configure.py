"""Recipe + flags -> configs: what ``vqvae train`` trains, assembled from the flags given,
then the dataset's recipe (``vqvae.train.recipes``), then the library defaults.

``flags`` is any object with the flags' attributes (an ``argparse.Namespace`` of ``vqvae
train``, or a ``types.SimpleNamespace``); a flag left ``None`` is unset. The model flags
are filled in from the recipe (``model_config_from``), so ``describe_plan`` can name them.
"""

from __future__ import annotations

import math
from argparse import Namespace

from ..config import QuantizerConfig, TrainConfig, VQVAEConfig
from ..data.audio import is_audio_dataset
from ..data.datasets import canonical_name, image_folder
from ..errors import VQVAEError
from ..media.image import IMAGE_EXTENSIONS
from ..quantizers import build_quantizer
from .recipes import Recipe, recipe_for

# A run length in steps or minutes without --epochs: so many epochs that they never end the
# run first (a folder of a few images has an epoch of one step).
NO_EPOCH_LIMIT = 1_000_000
MIN_BATCHES_PER_EPOCH = 8  # a recipe's batch shrinks until an epoch holds this many...
SMALLEST_FITTED_BATCH = 16  # ... but not below this

_TRAIN_FIELDS = TrainConfig.field_names()


def train_config_from(flags: Namespace, base: dict | None = None) -> TrainConfig:
    """Explicit flags over ``base`` (saved settings) over the defaults."""
    base = dict(base or {})
    for name in _TRAIN_FIELDS:
        value = getattr(flags, name, None)
        if value is not None:
            base[name] = value
    return TrainConfig.from_dict(base)


def quantizer_options(flags: Namespace) -> dict:
    """Kind-specific flags -> ``QuantizerConfig.options`` (only those given)."""
    options: dict = {}
    if flags.levels is not None:
        try:
            options["levels"] = [int(v) for v in flags.levels.split(",")]
        except ValueError:
            raise ValueError(
                f"--levels must be comma-separated integers, got {flags.levels!r}"
            ) from None
    given = {
        "num_stages": flags.num_stages,
        "dropout": flags.quantizer_dropout,
        "groups": flags.groups,
        "stage_kind": flags.stage_kind,
        "lookup_dim": flags.lookup_dim,
        "restart_decay": flags.restart_decay,
        "rate_weight": flags.rate_weight,
    }
    options.update({k: v for k, v in given.items() if v is not None})
    if flags.rotation_trick:
        options["rotation_trick"] = True
    if flags.entropy_weight:
        options["entropy_weight"] = flags.entropy_weight
    return options


def model_config_from(flags: Namespace, recipe: Recipe) -> VQVAEConfig:
    """The model flags given, then the recipe's (filled into ``flags``)."""
    codebook_size = flags.codebook_size
    for name, value in recipe.model.items():
        if getattr(flags, name) is None:
            setattr(flags, name, value)
    flags.quantizer = flags.quantizer or "ema"
    options = quantizer_options(flags)
    if codebook_size is None:
        levels = options.get("levels")
        codebook_size = math.prod(levels) if levels else flags.codebook_size
    flags.codebook_size = codebook_size
    quantizer = QuantizerConfig(
        kind=flags.quantizer,
        codebook_size=codebook_size,
        code_dim=flags.code_dim,
        commitment_weight=flags.commitment_weight,
        decay=flags.decay,
        kmeans_init=not flags.no_kmeans_init,
        dead_code_threshold=flags.dead_code_threshold,
        options=options,
    )
    build_quantizer(quantizer)  # kind-specific checks now, as a one-line CLI error
    return VQVAEConfig(
        arch=flags.arch,
        hidden_channels=flags.hidden,
        res_channels=flags.res_channels,
        num_res_blocks=flags.res_blocks,
        downsample_factor=flags.downsample,
        quantizer=quantizer,
        decoder_hidden_channels=flags.decoder_hidden,
        decoder_res_channels=flags.decoder_res_channels,
        decoder_res_blocks=flags.decoder_res_blocks,
        **audio_fields(flags),
    )


def audio_fields(flags: Namespace) -> dict:
    """--strides as a config field (the rest of an audio model's fields come from its data)."""
    if flags.strides is None:
        if getattr(flags, "audio_decoder", None) is not None:
            raise ValueError("--audio-decoder is a setting of audio models (audio data)")
        if getattr(flags, "phase_weight", 0.0):
            raise ValueError("--phase-weight is a setting of audio models (audio data)")
        return {}
    try:
        strides = tuple(int(v) for v in str(flags.strides).split(","))
    except ValueError:
        raise ValueError(
            f"--strides must be comma-separated integers, got {flags.strides!r}"
        ) from None
    decoder = getattr(flags, "audio_decoder", None)
    fields = {
        "modality": "audio",
        "sample_rate": 8000,
        "strides": strides,
        "audio_decoder": decoder,
    }
    return {**fields, "phase_weight": getattr(flags, "phase_weight", 0.0)}


def recipe_schedule(flags: Namespace, recipe: Recipe, num_images: int | None = None) -> dict:
    """The recipe's training settings: its steps when no run length is given (a length
    given replaces them; ``--max-minutes`` alone makes the time the plan), and its batch
    fitted to a training set of ``num_images`` (None: large or unknown; ``fit_batch``)."""
    base = dict(recipe.train)
    if num_images is not None and flags.batch_size is None:
        base["batch_size"] = fit_batch(base["batch_size"], num_images)
    if flags.epochs is None and flags.max_steps is None:
        if flags.max_minutes is None:
            base["max_steps"] = recipe.steps
        base["epochs"] = NO_EPOCH_LIMIT  # the steps (or --max-minutes alone) decide
    elif flags.epochs is None:
        base["epochs"] = NO_EPOCH_LIMIT  # --max-steps decides
    return base


def fit_batch(batch_size: int, num_images: int) -> int:
    """A recipe's batch for a training set of ``num_images``: halved (down to
    ``SMALLEST_FITTED_BATCH``) until an epoch holds ``MIN_BATCHES_PER_EPOCH`` batches, so a
    small folder trains on many different batches, each step cheaper, rather than on the
    same few images at every step; never more than the images there are."""
    while batch_size > SMALLEST_FITTED_BATCH and num_images < MIN_BATCHES_PER_EPOCH * batch_size:
        batch_size //= 2
    return max(1, min(batch_size, num_images))


def count_training_images(flags: Namespace, limit: int) -> int | None:
    """How many training images a folder dataset holds, counted up to ``limit`` (at least
    that many: returns ``limit``); None for named datasets, audio, tar shards and anything
    the loader will report on itself."""
    dataset = flags.dataset
    if dataset is None or canonical_name(dataset) is not None or "{" in dataset:
        return None
    try:
        if is_audio_dataset(dataset, flags.data_dir):
            return None
        folder = image_folder(dataset, "train", flags.data_dir)
    except (VQVAEError, OSError):
        return None
    if not folder.is_dir():
        return None
    if flags.train_subset is not None:
        limit = min(limit, flags.train_subset)
    count = 0
    for path in folder.rglob("*"):
        rel = path.relative_to(folder).parts
        if path.suffix.lower() in IMAGE_EXTENSIONS and not any(p.startswith(".") for p in rel):
            count += 1
            if count >= limit:
                break
    return count or None


def describe_plan(config: TrainConfig, recipe: Recipe, flags: Namespace) -> str:
    """One line saying what will be trained and for how long, before it starts."""
    s = config.schedule
    if s.max_steps:
        length = f"{s.max_steps} step{'' if s.max_steps == 1 else 's'}"
        if s.max_minutes:
            length += f" (or {s.max_minutes:g} min, whichever ends first)"
    elif s.max_minutes:
        length = f"{s.max_minutes:g} min"
    else:
        length = f"{s.epochs} epochs"
    if s.epochs != NO_EPOCH_LIMIT and (s.max_steps or s.max_minutes):
        length += f", at most {s.epochs} epochs"
    model = f"{flags.hidden} channels, {flags.codebook_size} codes of dimension {flags.code_dim}"
    return (
        f"training on {config.data.dataset} ({model}, batch {s.batch_size}; settings not given "
        f"are the {recipe.name} recipe's) for {length}, into {flags.out}"
    )


def configure(
    flags: Namespace, saved: dict | None = None
) -> tuple[Recipe, TrainConfig, VQVAEConfig]:
    """The recipe, training config and model config of a run: ``flags`` over the dataset's
    recipe, or with ``flags.resume`` over ``saved`` (the run's saved training settings);
    ValueError if a setting is wrong."""
    saved = saved or {}
    recipe = recipe_for(saved.get("dataset") if flags.resume else flags.dataset)
    if flags.resume:
        base = saved
    else:
        enough = MIN_BATCHES_PER_EPOCH * recipe.train["batch_size"]
        base = recipe_schedule(flags, recipe, count_training_images(flags, enough))
    train_config = train_config_from(flags, base)
    return recipe, train_config, model_config_from(flags, recipe)
