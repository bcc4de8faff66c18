"""Feature networks the project trains and ships itself (the usual VGG/LPIPS/Inception weights
cannot be downloaded here): one that *scores* (``fd_vqvae``, a small VGG-style CIFAR-10
classifier whose pooled features define a Fréchet distance) and one that the *loss* uses
(``perceptual``, a strided encoder trained by rotation prediction on BSDS500 training crops).
Another architecture trained on other data, so a model trained with the perceptual loss cannot
game the score.

A feature net is a folder with ``config.json`` (kind "features") and ``model.safetensors``;
``FeatureNet.from_pretrained(name_or_path)`` loads a shipped one by name or any folder of that
form (``--perceptual-net PATH``). Images go in as (B, C, H, W) in [0, 1]; grayscale is
replicated to 3 channels, and a net with an ``input_size`` resizes to it (bilinear, antialiased).

    x (B, 1|3, H, W) in [0, 1] -> prepare -> stage 1 -> ... -> stage S -> mean over H, W -> head
                                              |               |
                                          layers(x)[0]  ...  layers(x)[-1]   embed(x) = pooled
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import checkpoint, pretrained
from ..errors import CheckpointError

KIND = "features"
SHIPPED = ("fd_vqvae", "perceptual")
ARCHS = ("vgg", "strided")


@dataclass(frozen=True)
class FeatureNetConfig:
    """A feature net's shape.

    Args:
        arch: "vgg" (3x3 conv + batch norm + ReLU, then 2x2 max pooling between stages) or
            "strided" (3x3 conv of stride 2 from the second stage on + batch norm + leaky ReLU).
        widths: channels of each stage.
        num_outputs: size of the training head (10 classes, 4 rotations).
        input_size: side images are resized to before the net (None: any size, as given).
        mean, std: per-channel normalisation of the [0, 1] RGB input.
    """

    arch: str = "vgg"
    widths: tuple[int, ...] = (32, 64, 128, 256)
    num_outputs: int = 10
    input_size: int | None = None
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.25, 0.25, 0.25)

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, not {self.arch!r}")
        if not self.widths or any(int(w) < 1 for w in self.widths):
            raise ValueError(f"widths must be positive channel counts, not {self.widths!r}")
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"], d["mean"], d["std"] = list(self.widths), list(self.mean), list(self.std)
        return d


def _stage(arch: str, c_in: int, c_out: int, first: bool) -> nn.Sequential:
    if arch == "vgg":
        pool = [] if first else [nn.MaxPool2d(2)]
        return nn.Sequential(
            *pool, nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )  # fmt: skip
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=1 if first else 2, padding=1),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.2, inplace=True),
    )


class FeatureNet(nn.Module):
    """A small convolutional feature extractor with a training head (see the module doc)."""

    def __init__(self, config: FeatureNetConfig) -> None:
        super().__init__()
        self.config = config
        widths = (3, *config.widths)
        self.stages = nn.ModuleList(
            _stage(config.arch, widths[i], widths[i + 1], i == 0) for i in range(len(widths) - 1)
        )
        self.head = nn.Linear(widths[-1], config.num_outputs)
        self.register_buffer("mean", torch.tensor(config.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(config.std).view(1, 3, 1, 1), persistent=False)

    @property
    def feature_dim(self) -> int:
        """Size of ``embed``'s pooled features."""
        return self.config.widths[-1]

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1|3, H, W) in [0, 1] -> normalised (B, 3, H', W'): gray replicated, resized to
        ``input_size`` when the config has one."""
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"expected (B, 1 or 3, H, W) images, got {tuple(x.shape)}")
        x = x.float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        size = self.config.input_size
        if size is not None and tuple(x.shape[-2:]) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
        return (x - self.mean) / self.std

    def layers(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The activations after each stage, [(B, widths[i], H_i, W_i)], of images in [0, 1]."""
        h = self.prepare(x)
        out = []
        for stage in self.stages:
            h = stage(h)
            out.append(h)
        return out

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage averaged over space, (B, feature_dim): the features a Fréchet
        distance compares."""
        return self.layers(x)[-1].mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Training-head logits, (B, num_outputs)."""
        return self.head(self.embed(x))

    def save_pretrained(self, folder: str | os.PathLike, extra: dict | None = None) -> None:
        """Write ``config.json`` (+ ``extra`` top-level keys) and ``model.safetensors``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = {**checkpoint.config_header(KIND), "net": self.config.to_dict(), **(extra or {})}
        checkpoint.save_weights(folder / checkpoint.WEIGHTS_FILE, self.state_dict())
        checkpoint.write_json(folder / checkpoint.CONFIG_FILE, config)

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | os.PathLike, map_location: str | torch.device = "cpu"
    ) -> FeatureNet:
        """Load a feature net, frozen and in eval mode, from a folder or a shipped name
        ("fd_vqvae", "perceptual").

        Raises:
            CheckpointError: not a feature-net folder, or weights that do not fit its config.
        """
        folder = feature_net_dir(name_or_path)
        raw = checkpoint.read_run_config(folder, kind=KIND)
        try:
            net = cls(FeatureNetConfig(**raw.get("net", {})))
        except (TypeError, ValueError) as exc:
            raise CheckpointError(
                f"{folder / checkpoint.CONFIG_FILE}: bad net config: {exc}"
            ) from None
        checkpoint.load_weights_into(net, folder / checkpoint.WEIGHTS_FILE)
        return freeze(net.to(map_location))


def feature_net_dir(name_or_path: str | os.PathLike) -> Path:
    """The folder of a feature net: a shipped name, or the path itself."""
    if isinstance(name_or_path, str) and name_or_path in SHIPPED:
        return pretrained.ROOT / name_or_path
    path = Path(name_or_path)
    if not path.is_dir():
        raise CheckpointError(
            f"{name_or_path}: not a feature-net folder (config.json + model.safetensors) "
            f"nor a shipped one ({', '.join(SHIPPED)})"
        )
    return path


def freeze(net: nn.Module) -> nn.Module:
    """Eval mode and no gradients for any parameter: a fixed feature extractor."""
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()


class PerceptualLoss:
    """LPIPS-style distance (Zhang et al. 2018, without its learned per-channel weights) in a
    frozen feature net: at every stage, features are unit-normalised over channels at each
    position, and the squared distance between those of ``x_hat`` and ``x`` is summed over
    channels, averaged over positions and images, and summed over stages.

    The net is held here, not by the model: it is in no ``state_dict`` and no optimizer, in
    eval mode with ``requires_grad`` off; gradients flow through it to ``x_hat`` only.
    """

    def __init__(self, net: FeatureNet) -> None:
        self.net = freeze(net)

    @classmethod
    def load(cls, name_or_path: str | os.PathLike | None = None, device="cpu") -> PerceptualLoss:
        """The loss over a feature-net folder, or the shipped ``perceptual`` net (None)."""
        return cls(FeatureNet.from_pretrained(name_or_path or "perceptual", device))

    def __call__(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Scalar loss of reconstructions ``x_hat`` against images ``x``, (B, C, H, W) in [0, 1]."""
        with torch.no_grad():
            targets = [_unit(f) for f in self.net.layers(x)]
        total = x_hat.new_zeros((), dtype=torch.float32)
        for f_hat, f in zip(self.net.layers(x_hat), targets, strict=True):
            total = total + (_unit(f_hat) - f).float().pow(2).sum(1).mean()
        return total


def _unit(f: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Unit length over channels at each position (LPIPS's normalize_tensor)."""
    return f / (f.float().pow(2).sum(1, keepdim=True).sqrt() + eps).to(f.dtype)
