"""The VQ-VAE: encoder -> quantizer -> decoder, one class for every modality.

x (B, C, H, W) in [0, 1]            |  x (B, 1, T) in [-1, 1]
  -> signal: check, pad to a multiple of f (images: edge; audio: silence), centre
  -> encoder -> z_e (B, D, *positions)    (H/f, W/f  |  T/hop)
  -> quantizer -> z_q, indices (B, [S,] *positions)
  -> decoder -> x_hat, cropped back to the input's size
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import checkpoint, pretrained
from ..config import VQVAEConfig
from ..errors import CheckpointError
from ..quantizers import QuantizerOutput, ResidualVectorQuantizer
from .assignment import ASSIGNMENT_KEY, ContextAssignment, load_assignment
from .build import build_parts
from .signal import AudioSignal


@dataclass
class VQVAEOutput:
    """Everything ``VQVAE.forward`` computes.

    Attributes:
        x_hat: reconstruction, same shape as the input, unclipped.
        z_e: encoder output (B, D, H', W').
        z_q: quantized latents (B, D, H', W') with the straight-through path to z_e.
        indices: code ids (B, *positions) int64; (B, S, *positions) for multi-codebook quantizers
            (``quantizer.num_stages`` S > 1: residual and grouped VQ).
        loss: total training loss = reconstruction + quantizer loss.
        losses: the parts: "reconstruction" (the signal's loss: MSE for images), the signal's
            logged parts (audio: "stft", "l1", "mse", "phase"), "quantizer", "codebook",
            "commitment".
        perplexity: of the batch's code usage.
    """

    x_hat: torch.Tensor
    z_e: torch.Tensor
    z_q: torch.Tensor
    indices: torch.Tensor
    loss: torch.Tensor
    losses: dict[str, torch.Tensor]
    perplexity: torch.Tensor


class VQVAE(nn.Module):
    """Vector-quantized autoencoder (van den Oord et al. 2017), for every modality.

    The model holds a signal object (``models.signal``) that says what its inputs are:
    ``ImageSignal``: images (B, C, H, W) in [0, 1], centred internally; convolutional models
    take any size (padded by edge replication to a multiple of ``downsample_factor`` and
    cropped back), MLP models ``config.image_size`` only; codes (B, [S,] H / f, W / f).
    ``AudioSignal``: mono waveforms (B, 1, T) in [-1, 1], any T >= 1 (padded with silence
    to a multiple of ``hop_length``); codes (B, [S,] ceil(T / hop)); rate figures
    ``sample_rate``, ``frames_per_second`` and ``bitrate(stages)``.

    ``assignment``: how codes are chosen beyond the quantizer's own rule: None (nearest codes,
    with the quantizer's unigram rate if it has one) or a ``ContextAssignment`` (codes under
    a prior's code lengths in context, ``train --rate-prior``). It is saved with the model
    and restored by ``from_pretrained``; ``forward`` and ``encode`` always apply it.
    """

    def __init__(self, config: VQVAEConfig, assignment: ContextAssignment | None = None) -> None:
        super().__init__()
        self.config = config
        self.signal, self.encoder, self.decoder, self.quantizer = build_parts(config)
        self.assignment = assignment

    @property
    def assignment(self) -> ContextAssignment | None:
        return self._assignment

    @assignment.setter
    def assignment(self, rule: ContextAssignment | None) -> None:
        if rule is not None:
            rule.check(self.quantizer)
        self._assignment = rule

    @property
    def modality(self) -> str:
        """ "image" or "audio": the kind of signal the model codes."""
        return self.signal.kind

    @property
    def downsample_factor(self) -> int:
        """Input samples (pixels per side, or audio samples) per code position."""
        return self.signal.factor

    @property
    def num_stages(self) -> int:
        """Codebooks per position (residual VQ stages, groups; 1 for single codebooks)."""
        return int(self.quantizer.num_stages)

    @property
    def bits_per_code(self) -> float:
        return math.log2(self.quantizer.codebook_size)

    # ---- rate figures of audio models (``AudioSignal``) -------------------------------------

    @property
    def sample_rate(self) -> int:
        return self._audio_signal("sample_rate").sample_rate

    @property
    def hop_length(self) -> int:
        """Samples per code frame (the product of the strides)."""
        return self._audio_signal("hop_length").hop_length

    @property
    def frames_per_second(self) -> float:
        return self._audio_signal("frames_per_second").frames_per_second

    def bitrate(self, stages: int | None = None) -> float:
        """Bits per second of ``stages`` stages (default all) at a fixed log2(K) bits a code,
        before entropy coding (audio models)."""
        stages = self.num_stages if stages is None else stages
        return self._audio_signal("bitrate").frames_per_second * stages * self.bits_per_code

    def _audio_signal(self, name: str) -> AudioSignal:
        if not isinstance(self.signal, AudioSignal):
            raise AttributeError(f"{name} is a figure of audio models; this one codes images")
        return self.signal

    # ---- coding --------------------------------------------------------------------------

    def encode_latents(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) or (B, 1, T) -> z_e (B, D, *code positions), after the signal's
        checks, padding and centring."""
        return self.encoder(self.signal.to_encoder(x))

    def decode_latents(self, z_q: torch.Tensor) -> torch.Tensor:
        """z_q (B, D, *positions) -> x_hat (B, C, *positions x f), uncropped."""
        return self.signal.from_decoder(self.decoder(z_q))

    def forward(self, x: torch.Tensor, target: torch.Tensor | None = None) -> VQVAEOutput:
        """Reconstruct ``x`` and compute the training losses.

        Args:
            x: input images (B, C, H, W) in [0, 1], or audio (B, 1, T) in [-1, 1].
            target: what the reconstruction loss compares ``x_hat`` with (same shape as ``x``);
                None means ``x`` itself. A denoiser gets corrupted ``x`` and the clean target.

        The reconstruction loss is the signal's: MSE for images; for audio multi-resolution
        STFT + waveform L1 (+ ``config.phase_weight`` x the phase loss), with the parts
        "stft", "l1", "mse" (and "phase") logged beside it.
        """
        if target is not None and target.shape != x.shape:
            raise ValueError(
                f"target must have the input's shape {tuple(x.shape)}, got {tuple(target.shape)}"
            )
        z_e = self.encode_latents(x)
        q = self._quantize(z_e)
        target = x if target is None else target
        x_hat, reconstruction, parts = self.signal.reconstruct_for_loss(
            self.decoder, q.z_q, x, target
        )
        return VQVAEOutput(
            x_hat=x_hat,
            z_e=z_e,
            z_q=q.z_q,
            indices=q.indices,
            loss=reconstruction + q.loss,
            losses={
                "reconstruction": reconstruction,
                **parts,
                "quantizer": q.loss,
                "codebook": q.codebook_loss,
                "commitment": q.commitment_loss,
            },
            perplexity=q.perplexity,
        )

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) in [0, 1] or audio (B, 1, T) -> code ids (B, [S,] *positions)
        int64 (positions: ceil(H/f), ceil(W/f) or ceil(T/hop)), chosen by the model's
        assignment rule.

        Runs the quantizer as it is; call ``model.eval()`` first so no statistics change.
        """
        return self._quantize(self.encode_latents(x)).indices

    @torch.no_grad()
    def code_distances(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) -> (B, h, w, K) the cost of each code at each position under
        the model's own rule (latent squared distance + its rate terms), before the argmin.
        Single-codebook quantizers only."""
        z_e = self.encode_latents(x)
        distances = self.quantizer.code_distances(z_e)
        bias = self.quantizer.rate_bias()
        if bias is not None:
            distances = distances + bias
        if self.assignment is not None:
            distances = distances + self.assignment.cost(self.quantizer, z_e)
        return distances

    def _quantize(self, z_e: torch.Tensor) -> QuantizerOutput:
        """The quantizer on ``z_e``, charged the assignment rule's cost when there is one."""
        if self.assignment is None:
            return self.quantizer(z_e)
        return self.quantizer(z_e, self.assignment.cost(self.quantizer, z_e))

    @torch.no_grad()
    def decode(self, indices: torch.Tensor, stages: int | None = None) -> torch.Tensor:
        """Code ids -> images (B, C, H'f, W'f) or audio (B, 1, L x hop), unclipped.

        Args:
            indices: (B, *positions) for a single-codebook model; (B, k, *positions) with
                k <= S for a model of S stages. A residual model decodes from its first k
                stages (ids < 0 are dropped stages); other multi-codebook models need all S.
            stages: decode with only the first ``stages`` stages of a residual model (None:
                all that are given).
        """
        return self.decode_latents(self.quantizer.embed(self._stage_prefix(indices, stages)))

    def _stage_prefix(self, indices: torch.Tensor, stages: int | None) -> torch.Tensor:
        """``indices`` with the stages after the first ``stages`` (or after those given)
        marked dropped (-1), checked against the model's stages."""
        s = self.num_stages
        if s == 1:
            if stages not in (None, 1):
                raise ValueError(f"this model has one stage, got stages={stages}")
            return indices
        dims = 2 + self.signal.code_dims
        if indices.dim() != dims or not 1 <= indices.shape[1] <= s:
            shape = "B, k, L" if self.signal.code_dims == 1 else "B, k, H', W'"
            raise ValueError(
                f"expected indices ({shape}) with 1 <= k <= {s}, got {tuple(indices.shape)}"
            )
        if stages is not None:
            if not 1 <= stages <= s:
                raise ValueError(f"stages must be in [1, {s}], got {stages}")
            indices = indices[:, :stages]
        missing = s - indices.shape[1]
        if missing and not self.supports_stage_prefix:
            raise ValueError(
                f"this {self.config.quantizer.kind} quantizer decodes all {s} of its codebooks, "
                f"got {indices.shape[1]}"
            )
        if missing:
            pad = [0, 0] * self.signal.code_dims + [0, missing]
            indices = F.pad(indices, pad, value=-1)
        return indices

    @property
    def supports_stage_prefix(self) -> bool:
        """Whether the model decodes from its first k stages (residual quantizers)."""
        return isinstance(self.quantizer, ResidualVectorQuantizer)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, stages: int | None = None) -> torch.Tensor:
        """decode(encode(x)) with the first ``stages`` stages, cropped to the input's size and
        clamped to the signal's range ([0, 1] images, [-1, 1] audio)."""
        x_hat = self.signal.crop(self.decode(self.encode(x), stages), x)
        return x_hat.clamp(*self.signal.value_range)

    def last_decoder_weight(self) -> nn.Parameter:
        """The weight of the decoder's output layer, for every architecture: where VQGAN's
        adaptive weight (``train.adversarial.adaptive_weight``) compares gradient norms."""
        return self.decoder.output_layer.weight

    def part_state(self, *parts: str) -> dict[str, torch.Tensor]:
        """The ``state_dict`` entries of the named parts ("encoder", "quantizer", "decoder")."""
        return {k: v for k, v in self.state_dict().items() if k.split(".", 1)[0] in parts}

    # ---- persistence -----------------------------------------------------------------------

    def save_pretrained(self, run_dir: str | os.PathLike, extra: dict | None = None) -> None:
        """Write ``config.json`` (+ ``extra`` top-level keys) and ``model.safetensors``."""
        run_dir = Path(run_dir)
        config = {
            **checkpoint.config_header("vqvae"),
            "model": self.config.to_dict(),
            **(extra or {}),
        }
        if self.assignment is not None:
            config[ASSIGNMENT_KEY] = self.assignment.save(run_dir)
        checkpoint.save_weights(run_dir / checkpoint.WEIGHTS_FILE, self.state_dict())
        checkpoint.write_json(run_dir / checkpoint.CONFIG_FILE, config)

    @classmethod
    def from_pretrained(
        cls, run_dir: str | os.PathLike, map_location: str | torch.device = "cpu"
    ) -> VQVAE:
        """Rebuild a model from a run dir's ``config.json`` + ``model.safetensors`` (in eval
        mode), with the code assignment rule it was trained with. ``run_dir`` may also name a
        shipped model (``vqvae.pretrained``: "mnist", "fsdd", ...)."""
        run_dir = pretrained.resolve(run_dir)
        config = checkpoint.read_run_config(run_dir)
        model_config = VQVAEConfig.from_dict(config.get("model", {}))
        try:
            model = cls(model_config)
        except (TypeError, ValueError) as exc:  # settings only the quantizer checks (fsq levels)
            config_path = run_dir / checkpoint.CONFIG_FILE
            raise CheckpointError(f"{config_path}: invalid model config: {exc}") from None
        checkpoint.load_weights_into(model, run_dir / checkpoint.WEIGHTS_FILE)
        try:
            model.assignment = load_assignment(run_dir, config)
        except ValueError as exc:  # a rule that does not fit this model
            raise checkpoint.CheckpointError(f"{run_dir}: {exc}") from None
        return model.to(map_location).eval()
