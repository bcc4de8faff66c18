"""Datasets and image I/O: MNIST, Fashion-MNIST, CIFAR-10 and folders of images.

Everything is loaded into memory once as uint8 (N, C, H, W); ``ImageDataset.batch`` turns
indices into float batches in [0, 1].
"""

from vqvae.data.datasets import DATASET_NAMES, ImageDataset, load_dataset
from vqvae.data.folder import load_image, save_image

__all__ = ["DATASET_NAMES", "ImageDataset", "load_dataset", "load_image", "save_image"]
