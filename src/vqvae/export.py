"""Export a VQ-VAE to ONNX: an encoder graph and a decoder graph that run without PyTorch.

::

    encoder.onnx  images  (batch, C, height, width) float32 in [0, 1]
                  -> pad to a multiple of f -> encoder -> code choice (inside the graph)
                  -> indices (batch, [S,] code_height, code_width) int64
    decoder.onnx  indices (batch, [S,] code_height, code_width) int64
                  -> code lookup -> decoder -> images (batch, C, f*code_height, f*code_width)
    config.json   the model's config (a copy of the run's)
    export.json   the graphs' inputs, outputs and shapes

Batch and image size are dynamic (an MLP model takes its training size only). The code choice
is PyTorch's own (nearest code: ||e||^2 + rate bias - 2 z.e, argmin, per stage of residual VQ
and per group of grouped VQ, whose indices have S stages; FSQ: bound, round, index), so the
graphs give the indices ``VQVAE.encode`` gives. A model whose codes are chosen under a prior
in context (``train --rate-prior``) is refused, since a nearest-code graph would give it other
codes than it was trained with; so is an audio model.
"""

from __future__ import annotations

import contextlib
import glob
import io
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import checkpoint, pretrained
from ._version import __version__
from .errors import VQVAEError
from .models import VQVAE, is_audio
from .progress import Progress
from .quantizers import (
    FiniteScalarQuantizer,
    GroupedVectorQuantizer,
    ResidualVectorQuantizer,
)

FORMATS = ("onnx",)
ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder.onnx"
EXPORT_FILE = "export.json"
OPSET = 18
INSTALL_HINT = "pip install 'vqvae[onnx]'"


class ExportError(VQVAEError):
    """A model that cannot be exported as asked (its quantizer, its code rule, the format)."""


def _search_tables(stage) -> tuple[torch.Tensor, torch.Tensor]:
    """(codebook^T (d, K), ||e_k||^2 + rate bias (K,)) of one single-codebook quantizer: what
    ``quantizers.nearest_code`` computes its distances from."""
    codebook = stage._lookup_codebook().detach().float()  # (K, d)
    code_sq = codebook.pow(2).sum(1)
    bias = stage.rate_bias()  # a model trained with --rate-weight keeps its unigram bits
    if bias is not None:
        code_sq = code_sq + bias.detach().float()
    return codebook.t().contiguous(), code_sq


def _nearest(vectors: torch.Tensor, codebook_t: torch.Tensor, code_sq: torch.Tensor):
    # argmin_k ||e_k||^2 (+ bias_k) - 2 z.e_k, the computation of quantizers.nearest_code
    return torch.addmm(code_sq, vectors, codebook_t, alpha=-2.0).argmin(1)


class _EncoderGraph(nn.Module):
    """images (B, C, H, W) -> indices (B, [S,] ceil(H/f), ceil(W/f)): the model's codes."""

    def __init__(self, model: VQVAE) -> None:
        super().__init__()
        q = model.quantizer
        self.encoder = model.encoder
        self.quantizer = q  # its _project_in (identity, or the cosine projection) / FSQ steps
        self.f = model.downsample_factor
        self.kind = _kind(q)
        stages = {
            "single": [q],
            "rvq": getattr(q, "stages", []),
            "grouped": getattr(q, "groups", []),
        }
        tables = [_search_tables(stage) for stage in stages.get(self.kind, [])]
        self.codebooks_t = nn.ParameterList(nn.Parameter(t, requires_grad=False) for t, _ in tables)
        self.codes_sq = nn.ParameterList(nn.Parameter(c, requires_grad=False) for _, c in tables)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        f = self.f
        pad_h, pad_w = (f - images.shape[2] % f) % f, (f - images.shape[3] % f) % f
        x = F.pad(images, (0, pad_w, 0, pad_h), mode="replicate")  # as ImageSignal.pad
        z_e = self.encoder(x - 0.5)  # (B, D, h, w)
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        if self.kind == "fsq":  # FiniteScalarQuantizer.forward's rounding, then its index
            q = self.quantizer
            rounded = torch.round(q._bound(q.in_proj(flat)))
            return q.codes_to_indices(rounded / (q.levels // 2).float()).reshape(b, h, w)
        if self.kind == "single":
            vectors = self.quantizer._project_in(flat)
            return _nearest(vectors, self.codebooks_t[0], self.codes_sq[0]).reshape(b, h, w)
        ids = []
        if self.kind == "rvq":  # each stage codes what the ones before left over
            residual = flat
            for codebook_t, code_sq in zip(self.codebooks_t, self.codes_sq, strict=True):
                ids.append(_nearest(residual, codebook_t, code_sq))
                residual = residual - F.embedding(ids[-1], codebook_t.t())
        else:  # grouped: each group of channels has its own codebook
            parts = flat.split(d // len(self.codebooks_t), dim=1)
            for part, codebook_t, code_sq in zip(
                parts, self.codebooks_t, self.codes_sq, strict=True
            ):
                ids.append(_nearest(part, codebook_t, code_sq))
        return torch.stack(ids, 1).reshape(b, h, w, len(ids)).permute(0, 3, 1, 2)


class _DecoderGraph(nn.Module):
    """indices (B, [S,] h, w) int64 -> images (B, C, h f, w f), as ``VQVAE.decode``."""

    def __init__(self, model: VQVAE) -> None:
        super().__init__()
        q = model.quantizer
        self.decoder = model.decoder
        self.kind = _kind(q)
        if self.kind == "rvq":  # the stages' codebooks (an index < 0: a stage left out)
            tables = [stage.weight.detach().float() for stage in q.stages]
        elif self.kind == "grouped":
            tables = [group.weight.detach().float() for group in q.groups]
        else:
            # Every code in z space, one row per index: embed() of 0..K-1 (with the cosine
            # quantizer's or FSQ's output projection applied).
            every = torch.arange(q.codebook_size)  # the model is on the CPU (from_pretrained)
            with torch.no_grad():
                tables = [q.embed(every.view(1, -1, 1))[0, :, :, 0].t().float()]  # (K, D)
        self.tables = nn.ParameterList(
            nn.Parameter(t.contiguous(), requires_grad=False) for t in tables
        )

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        if self.kind == "rvq":  # the sum of the stages' codes, as ResidualVectorQuantizer.embed
            z = torch.zeros(*indices.shape[:1], *indices.shape[2:], self.tables[0].shape[1])
            for s, table in enumerate(self.tables):
                ids = indices[:, s]
                codes = F.embedding(ids.clamp_min(0), table)
                z = z + torch.where((ids >= 0).unsqueeze(-1), codes, torch.zeros_like(codes))
        elif self.kind == "grouped":  # the groups' codes side by side
            z = torch.cat([F.embedding(indices[:, g], t) for g, t in enumerate(self.tables)], -1)
        else:
            z = F.embedding(indices, self.tables[0])  # (B, h, w, D)
        return self.decoder(z.permute(0, 3, 1, 2)) + 0.5


def _kind(q) -> str:
    if isinstance(q, FiniteScalarQuantizer):
        return "fsq"
    if isinstance(q, ResidualVectorQuantizer):
        return "rvq"
    if isinstance(q, GroupedVectorQuantizer):
        return "grouped"
    return "single" if q.num_stages == 1 and hasattr(q, "code_distances") else "unsupported"


def check_exportable(model: VQVAE) -> None:
    """ExportError (one line) unless ``model`` can be exported faithfully."""
    if is_audio(model):
        raise ExportError("ONNX export covers image models; this is an audio model")
    q = model.quantizer
    if _kind(q) == "unsupported":
        raise ExportError(
            f"ONNX export supports the vq, ema, cosine, fsq, rvq and grouped quantizers; this "
            f"model's is {q.config.kind}"
        )
    if model.assignment is not None:
        raise ExportError(
            "this model chooses its codes under a rate prior in context (train --rate-prior); "
            "a nearest-code ONNX encoder would give other codes, so it is not exported"
        )


def export(
    model: str | os.PathLike,
    out_dir: str | os.PathLike,
    format: str = "onnx",
    opset: int = OPSET,
    force: bool = False,
) -> dict[str, Any]:
    """Export a run dir or shipped model to ``out_dir`` and return what export.json holds.

    The files are written under a temporary folder beside ``out_dir`` first, so nothing in
    ``out_dir`` changes unless the export succeeds. A new folder is renamed into place whole.
    In an existing folder only the export's own files (encoder.onnx, decoder.onnx,
    config.json, export.json) are written, export.json last; anything else there is kept.
    An earlier export's files are replaced only with ``force``; a non-empty folder that
    holds no export.json (no earlier export) is refused, so a run dir's config.json or the
    user's own files are never overwritten. Temporary folders that a killed export left
    beside ``out_dir`` are removed.

    Args:
        model: a run dir written by ``vqvae train`` or a shipped model's name ("mnist").
        out_dir: the folder to write (encoder.onnx, decoder.onnx, config.json, export.json).
        format: "onnx" (the only one).
        opset: the ONNX opset of the graphs.
        force: replace the files of an earlier export in ``out_dir``.

    Raises:
        ExportError: an unsupported format, quantizer or code rule; onnx not installed;
            ``out_dir`` holds something other than an export, or an earlier export
            without ``force``.
        CheckpointError: ``model`` is not a run dir nor a shipped name.
    """
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; choose from {', '.join(FORMATS)}")
    out_dir = Path(out_dir)
    _check_target(out_dir, force)  # before the model is loaded: a one-line refusal
    _require_onnx()
    run_dir = pretrained.resolve(model)
    vqvae = VQVAE.from_pretrained(run_dir).float().eval()
    check_exportable(vqvae)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(out_dir)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        info = _write(vqvae, run_dir, staging, opset, str(model))
        _check_target(out_dir, force)  # again: the folder may have changed meanwhile
        _move_into(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return info


def _write(
    model: VQVAE, run_dir: Path, folder: Path, opset: int, model_name: str
) -> dict[str, Any]:
    cfg = model.config
    c, f = cfg.in_channels, model.downsample_factor
    dynamic_size = cfg.arch == "conv"
    h, w = (max(2 * f, 8), max(2 * f, 8)) if dynamic_size else tuple(cfg.image_size)
    height, width = ("height", "width") if dynamic_size else (h, w)
    code_h, code_w = ("code_height", "code_width") if dynamic_size else (-(-h // f), -(-w // f))
    stages = model.quantizer.num_stages  # indices (B, S, h, w) when S > 1
    index_shape = ["batch", *([stages] if stages > 1 else []), code_h, code_w]
    index_dims = dict(enumerate(index_shape))
    images = torch.rand(2, c, h, w, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        indices = model.encode(images)
    with Progress(2, "export to ONNX", "graph") as bar:
        _export_graph(
            _EncoderGraph(model), images, folder / ENCODER_FILE, "images", "indices",
            {0: "batch", 2: height, 3: width}, index_dims, opset,
        )  # fmt: skip
        bar.update()
        _export_graph(
            _DecoderGraph(model), indices, folder / DECODER_FILE, "indices", "images",
            index_dims, {0: "batch", 2: _times(f, code_h), 3: _times(f, code_w)}, opset,
        )  # fmt: skip
        bar.update()
    shutil.copyfile(run_dir / checkpoint.CONFIG_FILE, folder / checkpoint.CONFIG_FILE)
    info = {
        "format": "onnx",
        "opset": opset,
        "vqvae_version": __version__,
        "torch_version": torch.__version__,
        "source": str(model_name),
        "fingerprint": _fingerprint(run_dir),
        "downsample_factor": f,
        "codebook_size": model.quantizer.codebook_size,
        "quantizer": model.quantizer.config.kind,
        "stages": stages,
        "encoder": {
            "file": ENCODER_FILE,
            "inputs": [_tensor("images", "float32", ["batch", c, height, width], "[0, 1]")],
            "outputs": [
                _tensor(
                    "indices",
                    "int64",
                    index_shape,
                    f"[0, {model.quantizer.codebook_size}); code_height = ceil(height / {f})",
                )
            ],
        },  # fmt: skip
        "decoder": {
            "file": DECODER_FILE,
            "inputs": [
                _tensor(
                    "indices",
                    "int64",
                    index_shape,
                    "-1 leaves a stage out (rvq)" if _kind(model.quantizer) == "rvq" else None,
                )
            ],
            "outputs": [
                _tensor(
                    "images",
                    "float32",
                    ["batch", c, _times(f, code_h), _times(f, code_w)],
                    "about [0, 1], unclipped; crop to the input's height and width",
                )
            ],
        },  # fmt: skip
    }
    checkpoint.write_json(folder / EXPORT_FILE, info)
    return info


def _times(f: int, dim: str | int) -> str | int:
    return dim * f if isinstance(dim, int) else f"{f}*{dim}"


def _tensor(name: str, dtype: str, shape: list, values: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "dtype": dtype, "shape": shape}
    if values is not None:
        out["values"] = values
    return out


def _fingerprint(run_dir: Path) -> str:
    from .priors import weights_fingerprint

    return weights_fingerprint(run_dir)


def _export_graph(
    module: nn.Module,
    example: torch.Tensor,
    path: Path,
    input_name: str,
    output_name: str,
    input_dims: dict[int, str | int],
    output_dims: dict[int, str | int],
    opset: int,
) -> None:
    """torch.onnx's dynamo exporter (symbolic shapes: its graphs take any batch and size),
    one self-contained file; the dims get readable names."""
    import onnx

    dynamic = {
        axis: torch.export.Dim(name) for axis, name in input_dims.items() if isinstance(name, str)
    }
    quiet = io.StringIO()
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)  # its notes (torchvision missing, ...) are not the user's
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(quiet),
            torch.no_grad(),
        ):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module.eval(),
                (example,),
                str(path),
                input_names=[input_name],
                output_names=[output_name],
                dynamic_shapes={input_name: dynamic},
                opset_version=opset,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
    except Exception as exc:  # the exporter's errors are many lines long
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ExportError(f"ONNX export of {path.name} failed: {first}") from None
    finally:
        logger.setLevel(level)
    graph = onnx.load(str(path))
    for value, dims in ((graph.graph.input[0], input_dims), (graph.graph.output[0], output_dims)):
        for axis, name in dims.items():
            dim = value.type.tensor_type.shape.dim[axis]
            if isinstance(name, str):
                dim.dim_param = name
            else:
                dim.dim_value = name
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise ExportError(f"ONNX export needs {exc.name}: {INSTALL_HINT}") from None


EXPORT_FILES = (ENCODER_FILE, DECODER_FILE, checkpoint.CONFIG_FILE, EXPORT_FILE)
"""What an export writes: the only files in its folder it ever replaces (export.json last)."""


def _check_target(out_dir: Path, force: bool) -> None:
    if not out_dir.exists() and not out_dir.is_symlink():
        return
    if not out_dir.is_dir():
        raise ExportError(f"{out_dir}: exists and is not a folder")
    if not (out_dir / EXPORT_FILE).is_file():
        if any(out_dir.iterdir()):
            raise ExportError(
                f"{out_dir}: not empty and not an earlier export; choose another folder"
            )
        return
    if not force:
        raise ExportError(
            f"{out_dir}: holds an earlier export; pass -f/--force to replace its files "
            f"({', '.join(EXPORT_FILES)}; other files there are kept)"
        )


def _move_into(staging: Path, out_dir: Path) -> None:
    """Put the staged files in ``out_dir``: the whole folder when it is new, else file by file
    (export.json last), replacing only the export's own files."""
    if not out_dir.exists():
        os.chmod(staging, 0o777 & ~_umask())
        os.rename(staging, out_dir)
        return
    for name in EXPORT_FILES:
        if (staging / name).is_file():
            os.replace(staging / name, out_dir / name)


def _remove_stale_staging(out_dir: Path) -> None:
    """Remove the temporary folders (``.NAME.XXXX.tmp`` holding only export files) that a
    killed export to ``out_dir`` left beside it."""
    for folder in out_dir.parent.glob(f".{glob.escape(out_dir.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            if folder.is_dir() and not folder.is_symlink():
                if {p.name for p in folder.iterdir()} <= set(EXPORT_FILES):
                    shutil.rmtree(folder)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
