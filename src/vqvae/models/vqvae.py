"""The VQ-VAE: encoder -> quantizer -> decoder.

x (B, C, H, W) in [0, 1]
  -> pad to a multiple of f -> encoder -> z_e (B, D, H/f, W/f)
  -> quantizer -> z_q, indices (B, H/f, W/f)
  -> decoder -> x_hat (B, C, H, W) (cropped back)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import checkpoint, pretrained
from ..config import VQVAEConfig
from ..errors import CheckpointError
from ..quantizers import QuantizerOutput, build_quantizer
from .assignment import ASSIGNMENT_KEY, ContextAssignment, load_assignment
from .encoders import build_encoder_decoder


@dataclass
class VQVAEOutput:
    """Everything ``VQVAE.forward`` computes.

    Attributes:
        x_hat: reconstruction (B, C, H, W), same size as the input, unclipped.
        z_e: encoder output (B, D, H', W').
        z_q: quantized latents (B, D, H', W') with the straight-through path to z_e.
        indices: code ids (B, H', W') int64; (B, S, H', W') for multi-codebook quantizers
            (``quantizer.num_stages`` S > 1: residual and grouped VQ).
        loss: total training loss = reconstruction + quantizer loss.
        losses: the parts: "reconstruction" (MSE), "quantizer", "codebook", "commitment".
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
    """Vector-quantized autoencoder (van den Oord et al. 2017).

    Images are float tensors in [0, 1]; the model centres them internally. Convolutional
    models take any image size (padded by edge replication to a multiple of
    ``downsample_factor`` and cropped back); MLP models take ``config.image_size`` only.

    ``assignment``: how codes are chosen beyond the quantizer's own rule: None (nearest codes,
    with the quantizer's unigram rate if it has one) or a ``ContextAssignment`` (codes under
    a prior's code lengths in context, ``train --rate-prior``). It is saved with the model
    and restored by ``from_pretrained``; ``forward`` and ``encode`` always apply it.
    """

    def __new__(cls, config: VQVAEConfig | None = None, *args, **kwargs):
        # VQVAE(config) of an audio config builds the audio model (one loader, one builder)
        if cls is VQVAE and getattr(config, "modality", "image") == "audio":
            from .audio import AudioVQVAE

            cls = AudioVQVAE
        return super().__new__(cls)

    def __init__(self, config: VQVAEConfig, assignment: ContextAssignment | None = None) -> None:
        super().__init__()
        self.config = config
        self.encoder, self.decoder = build_encoder_decoder(config)
        self.quantizer = build_quantizer(config.quantizer)
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
    def downsample_factor(self) -> int:
        return self.config.downsample_factor

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(
                f"expected images of shape (B, {self.config.in_channels}, H, W), got {tuple(x.shape)}"
            )
        if self.config.arch == "mlp" and tuple(x.shape[2:]) != tuple(self.config.image_size):
            raise ValueError(
                f"this MLP model takes {self.config.image_size[0]}x{self.config.image_size[1]} "
                f"images, got {x.shape[2]}x{x.shape[3]}"
            )

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        f = self.downsample_factor
        pad_h, pad_w = (-x.shape[2]) % f, (-x.shape[3]) % f
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        return x

    def encode_latents(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) in [0, 1] -> z_e (B, D, ceil(H/f), ceil(W/f))."""
        self._check_input(x)
        return self.encoder(self._pad(x) - 0.5)

    def decode_latents(self, z_q: torch.Tensor) -> torch.Tensor:
        """z_q (B, D, H', W') -> x_hat (B, C, H'f, W'f)."""
        return self.decoder(z_q) + 0.5

    def forward(self, x: torch.Tensor, target: torch.Tensor | None = None) -> VQVAEOutput:
        """Reconstruct ``x`` (B, C, H, W) in [0, 1] and compute the training losses.

        Args:
            x: input images (B, C, H, W) in [0, 1].
            target: what the reconstruction loss compares ``x_hat`` with (same shape as ``x``);
                None means ``x`` itself. A denoiser gets corrupted ``x`` and the clean target.
        """
        if target is not None and target.shape != x.shape:
            raise ValueError(
                f"target must have the input's shape {tuple(x.shape)}, got {tuple(target.shape)}"
            )
        z_e = self.encode_latents(x)
        q = self._quantize(z_e)
        x_hat = self.decode_latents(q.z_q)[..., : x.shape[2], : x.shape[3]]
        reconstruction = F.mse_loss(x_hat.float(), (x if target is None else target).float())
        return VQVAEOutput(
            x_hat=x_hat,
            z_e=z_e,
            z_q=q.z_q,
            indices=q.indices,
            loss=reconstruction + q.loss,
            losses={
                "reconstruction": reconstruction,
                "quantizer": q.loss,
                "codebook": q.codebook_loss,
                "commitment": q.commitment_loss,
            },
            perplexity=q.perplexity,
        )

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) in [0, 1] -> code ids (B, [S,] ceil(H/f), ceil(W/f)) int64,
        chosen by the model's assignment rule.

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
    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """Code ids (B, [S,] H', W') -> images (B, C, H'f, W'f), unclipped."""
        return self.decode_latents(self.quantizer.embed(indices))

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
        shipped model (``vqvae.pretrained``: "mnist", ...). An audio run dir gives an
        ``AudioVQVAE`` (``vqvae.models.audio``)."""
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
