"""vqvae: vector-quantized autoencoders for images and sound.

The public names load lazily, on first use: ``import vqvae`` loads no torch, and
``from vqvae import VQVAE`` loads the model layer and what it needs, no more.
"""

from __future__ import annotations

import importlib
import sys
import types

from ._version import __version__

# public name -> the submodule that defines it
_LAZY = {
    "CheckpointError": "errors",
    "Corruption": "corruptions",
    "CorruptionError": "corruptions",
    "DataError": "errors",
    "EMAVectorQuantizer": "quantizers",
    "Quantizer": "quantizers",
    "QuantizerConfig": "config",
    "QuantizerOutput": "quantizers",
    "Run": "runs",
    "VQVAE": "models",
    "VQVAEConfig": "config",
    "VQVAEError": "errors",
    "VQVAEOutput": "models",
    "VectorQuantizer": "quantizers",
    "build_quantizer": "quantizers",
    "corrupt": "corruptions",
    "denoise": "denoise",
    "parse_corruption": "corruptions",
}

__all__ = [
    "CheckpointError",
    "Corruption",
    "CorruptionError",
    "DataError",
    "EMAVectorQuantizer",
    "Quantizer",
    "QuantizerConfig",
    "QuantizerOutput",
    "Run",
    "VQVAE",
    "VQVAEConfig",
    "VQVAEError",
    "VQVAEOutput",
    "VectorQuantizer",
    "__version__",
    "build_quantizer",
    "corrupt",
    "denoise",
    "parse_corruption",
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vqvae' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


class _Root(types.ModuleType):
    def __setattr__(self, name: str, value) -> None:
        # Loading a submodule binds it to its name on the package: the function ``denoise``
        # keeps its name rather than the module ``vqvae.denoise`` that defines it.
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == name:
            globals().pop(name, None)  # the next lookup goes to __getattr__
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Root
