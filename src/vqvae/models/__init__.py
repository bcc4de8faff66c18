"""Encoder, decoder and the VQ-VAE model."""

from .audio import AudioVQVAE, is_audio
from .vqvae import VQVAE, VQVAEOutput

__all__ = ["VQVAE", "AudioVQVAE", "VQVAEOutput", "is_audio"]
