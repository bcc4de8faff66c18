"""The VQ-VAE (one class for images and audio), its signals, parts and losses."""

from .signal import AudioSignal, ImageSignal
from .vqvae import VQVAE, VQVAEOutput


def is_audio(model_or_config) -> bool:
    """Whether a model (or its ``VQVAEConfig``) codes audio."""
    config = getattr(model_or_config, "config", model_or_config)
    return getattr(config, "modality", "image") == "audio"


__all__ = ["VQVAE", "AudioSignal", "ImageSignal", "VQVAEOutput", "is_audio"]
