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
from ..quantizers import build_quantizer
from .recipes import Recipe, recipe_for

# --max-minutes without --epochs: so many epochs that the time budget always ends the run.
TIME_BUDGET_EPOCHS = 1000

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
        for flag in ("adversarial_weight", "feature_weight"):
            if getattr(flags, flag, None):
                name = flag.replace("_", "-")
                raise ValueError(f"--{name} is a setting of audio models (audio data)")
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


def recipe_schedule(flags: Namespace, recipe: Recipe) -> dict:
    """The recipe's training settings, with its time budget when no run length is given."""
    base = dict(recipe.train)
    if all(v is None for v in (flags.epochs, flags.max_steps, flags.max_minutes)):
        base.update(max_minutes=recipe.minutes, epochs=TIME_BUDGET_EPOCHS)
    elif flags.max_minutes is not None and flags.epochs is None:
        base["epochs"] = TIME_BUDGET_EPOCHS  # --max-minutes alone: the time budget decides
    return base


def describe_plan(config: TrainConfig, recipe: Recipe, flags: Namespace) -> str:
    """One line saying what will be trained and for how long, before it starts."""
    s = config.schedule
    if s.max_minutes:
        length = f"{s.max_minutes:g} min"
        if s.epochs != TIME_BUDGET_EPOCHS:
            length += f" or {s.epochs} epochs, whichever ends first"
    elif s.max_steps:
        length = f"up to {s.max_steps} steps"
    else:
        length = f"{s.epochs} epochs"
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
    base = saved if flags.resume else recipe_schedule(flags, recipe)
    train_config = train_config_from(flags, base)
    return recipe, train_config, model_config_from(flags, recipe)
