"""Encoder, decoder and the VQ-VAE model."""

from .vqvae import VQVAE, VQVAEOutput

__all__ = ["VQVAE", "VQVAEOutput"]
