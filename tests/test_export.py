"""ONNX export (every quantizer): the graphs give PyTorch's indices and
(within 1e-4) its images, at any batch and image size; unsupported models and folders are
refused with one line."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vqvae import VQVAE, Quantizer, QuantizerConfig, VQVAEConfig
from vqvae import export as export_module
from vqvae.cli import main
from vqvae.data import load_image
from vqvae.export import ExportError, export
from vqvae.models.assignment import ContextAssignment
from vqvae.priors import TransformerPrior
from vqvae.priors.config import PriorConfig

ort = pytest.importorskip("onnxruntime")

DIGITS = Path(__file__).parents[1] / "examples" / "digits"
# A fresh tiny model: cosine codes (a projection inside the search) and a unigram rate bias.
TINY = VQVAEConfig(
    in_channels=3,
    hidden_channels=8,
    res_channels=4,
    num_res_blocks=1,
    quantizer=QuantizerConfig(
        kind="cosine", codebook_size=32, code_dim=4, kmeans_init=False,
        options={"lookup_dim": 3, "rate_weight": 0.05},
    ),
)  # fmt: skip


@pytest.fixture(scope="module")
def mnist_export(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mnist") / "onnx"
    info = export("mnist", out)
    assert info["encoder"]["inputs"][0]["shape"] == ["batch", 1, "height", "width"]
    return out


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory) -> tuple[Path, Path]:
    """A freshly built model (its usage statistics moved off uniform), exported by the CLI."""
    root = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(1)
    model = VQVAE(TINY)
    model.quantizer.cluster_size.copy_(torch.rand(32) * 10)
    model.save_pretrained(root / "run")
    assert main(["export", str(root / "run"), "--format", "onnx", "-o", str(root / "onnx")]) == 0
    return root / "run", root / "onnx"


# Other quantizers, each on a fresh model: FSQ with projections, residual (3 stages), grouped.
OTHERS = {
    "fsq": QuantizerConfig(
        kind="fsq", codebook_size=1000, code_dim=6, options={"levels": [8, 5, 5, 5]}
    ),
    "rvq": QuantizerConfig(
        kind="rvq", codebook_size=16, code_dim=4, kmeans_init=False, options={"num_stages": 3}
    ),
    "grouped": QuantizerConfig(
        kind="grouped", codebook_size=16, code_dim=4, kmeans_init=False, options={"groups": 2}
    ),
}


@pytest.fixture(scope="module", params=sorted(OTHERS))
def other_export(request, tmp_path_factory) -> tuple[Path, Path]:
    """A fresh model of another quantizer whose latents spread over many codes, exported."""
    root = tmp_path_factory.mktemp(request.param)
    torch.manual_seed(0)
    model = VQVAE(TINY.replace(quantizer=OTHERS[request.param]))
    for name, p in model.encoder.named_parameters():
        if name.endswith("weight"):
            p.data.mul_(6.0)  # untrained latents sit near 0, all in one or two cells
    model.save_pretrained(root / "run")
    export(root / "run", root / "onnx")
    return root / "run", root / "onnx"


def _sessions(folder: Path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return tuple(
        ort.InferenceSession(str(folder / name), options, providers=["CPUExecutionProvider"])
        for name in ("encoder.onnx", "decoder.onnx")
    )


def _check(model: VQVAE, folder: Path, x: torch.Tensor) -> None:
    encoder, decoder = _sessions(folder)
    indices = encoder.run(None, {"images": x.numpy()})[0]
    expected = model.encode(x)
    assert indices.dtype == np.int64 and indices.shape == tuple(expected.shape)
    np.testing.assert_array_equal(indices, expected.numpy())
    images = decoder.run(None, {"indices": indices})[0]
    np.testing.assert_allclose(images, model.decode(expected).numpy(), rtol=0, atol=1e-4)


def _digits(n: int, size: int) -> torch.Tensor:
    paths = sorted(DIGITS.glob("*.png"))[:n]
    x = torch.stack([load_image(p).float().div(255) for p in paths])  # (n, 1, 28, 28)
    if size != 28:
        x = torch.nn.functional.interpolate(x, size=(size, size + 5), mode="bilinear")
    return x


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("size", [28, 38])
def test_shipped_mnist_graphs_match_pytorch(mnist_export, batch, size):
    _check(VQVAE.from_pretrained("mnist"), mnist_export, _digits(batch, size))


@pytest.mark.parametrize("batch", [2, 3])
@pytest.mark.parametrize("shape", [(16, 16), (21, 30)])
def test_fresh_model_graphs_match_pytorch(tiny_export, batch, shape):
    run, folder = tiny_export
    model = VQVAE.from_pretrained(run)
    x = torch.rand(batch, 3, *shape, generator=torch.Generator().manual_seed(batch))
    _check(model, folder, x)
    # the rate bias matters for this model: plain nearest codes would differ somewhere
    z = model.encode_latents(x)
    assert not torch.equal(model.quantizer.code_distances(z).argmin(-1), model.encode(x))


@pytest.mark.parametrize("batch", [2, 3])
@pytest.mark.parametrize("shape", [(16, 16), (21, 30)])
def test_other_quantizers_graphs_match_pytorch(other_export, batch, shape):
    run, folder = other_export
    model = VQVAE.from_pretrained(run)
    g = torch.Generator().manual_seed(batch)
    cells = torch.rand(batch, 3, shape[0] // 3 + 1, shape[1] // 3 + 1, generator=g)
    x = torch.nn.functional.interpolate(cells, size=shape, mode="nearest")  # blocks of colour
    _check(model, folder, x)
    codes = model.encode(x)
    assert codes.unique().numel() >= 4  # the search is exercised, not one code everywhere
    if model.quantizer.num_stages > 1:
        assert codes.shape[1] == model.quantizer.num_stages
    if model.quantizer.config.kind == "rvq":  # a stage left out (-1) decodes as in PyTorch
        fewer = codes.clone()
        fewer[:, 2] = -1
        decoder = _sessions(folder)[1]
        images = decoder.run(None, {"indices": fewer.numpy()})[0]
        np.testing.assert_allclose(images, model.decode(fewer).numpy(), rtol=0, atol=1e-4)


def test_export_folder_describes_the_graphs(tiny_export):
    run, folder = tiny_export
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json", "decoder.onnx", "encoder.onnx", "export.json",
    ]  # fmt: skip
    assert (folder / "config.json").read_text() == (run / "config.json").read_text()
    info = json.loads((folder / "export.json").read_text())
    assert info["source"] == str(run) and info["quantizer"] == "cosine"
    assert info["encoder"]["outputs"][0] == {
        "name": "indices", "dtype": "int64", "shape": ["batch", "code_height", "code_width"],
        "values": "[0, 32); code_height = ceil(height / 4)",
    }  # fmt: skip
    assert info["decoder"]["outputs"][0]["shape"] == ["batch", 3, "4*code_height", "4*code_width"]
    encoder, decoder = _sessions(folder)
    assert [i.shape for i in encoder.get_inputs()] == [["batch", 3, "height", "width"]]
    assert [o.shape for o in decoder.get_outputs()] == [
        ["batch", 3, "4*code_height", "4*code_width"]
    ]


def _one_line_error(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("vqvae: error: "), err
    return err


def test_an_unknown_quantizer_is_refused():
    class Opaque(Quantizer):  # no nearest-code search to put in a graph
        pass

    model = VQVAE(TINY)
    model.quantizer = Opaque(TINY.quantizer)
    with pytest.raises(ExportError, match="vq, ema, cosine, fsq, rvq and grouped"):
        export_module.check_exportable(model)


def test_a_model_with_a_context_rule_is_refused(tmp_path):
    config = TINY.replace(
        quantizer=QuantizerConfig(kind="ema", codebook_size=16, code_dim=4, kmeans_init=False)
    )
    prior = TransformerPrior(PriorConfig(codebook_size=16, n_layer=1, n_head=2, n_embd=8))
    VQVAE(config, ContextAssignment(prior, 0.5)).save_pretrained(tmp_path / "run")
    with pytest.raises(ExportError, match="rate prior"):
        export(tmp_path / "run", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_onnx_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    err = _one_line_error(["export", "mnist", "-o", str(tmp_path / "out")], capsys)
    assert "pip install 'vqvae[onnx]'" in err


def test_unknown_model_is_one_line(tmp_path, capsys):
    err = _one_line_error(["export", str(tmp_path / "nothing"), "-o", str(tmp_path / "o")], capsys)
    assert "not a run directory, nor the name of a shipped model" in err


def test_output_folder_is_written_whole_or_refused(tmp_path, monkeypatch, capsys):
    written = []

    def fake_write(model, run_dir, folder, opset, name):
        (folder / "export.json").write_text(json.dumps({"n": len(written)}))
        written.append(folder)
        if len(written) == 3:
            raise RuntimeError("killed mid-export")
        return {"encoder": {"file": "encoder.onnx"}, "decoder": {"file": "decoder.onnx"}}

    monkeypatch.setattr(export_module, "_write", fake_write)
    out = tmp_path / "out"
    export("mnist", out)
    with pytest.raises(ExportError, match="earlier export; pass -f/--force"):
        export("mnist", out)  # an earlier export is replaced only with force
    assert json.loads((out / "export.json").read_text()) == {"n": 0}
    export("mnist", out, force=True)
    assert json.loads((out / "export.json").read_text()) == {"n": 1}
    with pytest.raises(RuntimeError):
        export("mnist", out, force=True)
    assert json.loads((out / "export.json").read_text()) == {"n": 1}  # left as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging left behind
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    err = _one_line_error(["export", "mnist", "-o", str(tmp_path / "other")], capsys)
    assert "not an earlier export" in err
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_an_audio_model_is_refused():
    config = VQVAEConfig(
        modality="audio", sample_rate=8000, strides=(4, 5, 8), in_channels=1,
        quantizer=QuantizerConfig(kind="ema", codebook_size=16, code_dim=4, kmeans_init=False),
    )  # fmt: skip
    with pytest.raises(ExportError, match="audio model"):
        export_module.check_exportable(VQVAE(config))


def test_a_new_export_keeps_the_users_other_files(tmp_path, monkeypatch, capsys):
    """Only the export's own four files are replaced; kill -9 leftovers are removed."""

    def fake_write(model, run_dir, folder, opset, name):
        for file in export_module.EXPORT_FILES:
            (folder / file).write_text(f"{file} {opset}")
        return {"encoder": {"file": "encoder.onnx"}, "decoder": {"file": "decoder.onnx"}}

    monkeypatch.setattr(export_module, "_write", fake_write)
    out = tmp_path / "out"
    assert main(["export", "mnist", "--out-dir", str(out)]) == 0
    (out / "notes.txt").write_text("mine")
    (out / "sub").mkdir()
    stale = tmp_path / ".out.abc123.tmp"  # what a kill -9 mid-export leaves
    stale.mkdir()
    (stale / "encoder.onnx").write_text("half")
    capsys.readouterr()
    assert main(["export", "mnist", "-o", str(out)]) == 2  # -o: the same flag as --out-dir
    err = capsys.readouterr().err
    assert "-f/--force" in err and err.count("\n") == 1, err
    assert main(["export", "mnist", "-o", str(out), "-f"]) == 0
    assert (out / "notes.txt").read_text() == "mine" and (out / "sub").is_dir()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*export_module.EXPORT_FILES, "notes.txt", "sub"]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # staging and leftovers gone
    run = tmp_path / "run"  # a run dir's config.json is never an export's to replace
    run.mkdir()
    (run / "config.json").write_text("{}")
    assert main(["export", "mnist", "-o", str(run), "-f"]) == 2
    assert (run / "config.json").read_text() == "{}"
