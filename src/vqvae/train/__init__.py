"""Training: the loop for the VQ-VAE."""

from .loop import TrainingError, epoch_permutation, load_splits, model_config_for, train

__all__ = ["TrainingError", "epoch_permutation", "load_splits", "model_config_for", "train"]
