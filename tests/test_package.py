"""The package root: one version, public names loaded on first use."""

import subprocess
import sys
from pathlib import Path

import vqvae

ROOT = Path(__file__).parents[1]


def _fresh(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_import_vqvae_loads_no_torch_and_no_submodule_but_the_version():
    code = "import sys, vqvae; print(sorted(m for m in sys.modules if m.startswith(('vqvae', 'torch'))))"
    assert _fresh(code) == "['vqvae', 'vqvae._version']"


def test_a_public_name_loads_its_layer_only():
    code = (
        "import sys; from vqvae import VQVAE; "
        "print(sorted(m for m in sys.modules if m.startswith(('vqvae.train', 'vqvae.cli', "
        "'vqvae.codec', 'vqvae.runs'))))"
    )
    assert _fresh(code) == "[]"


def test_every_public_name_resolves_and_dir_lists_it():
    for name in vqvae.__all__:
        assert getattr(vqvae, name) is not None
    assert set(vqvae.__all__) <= set(dir(vqvae))


def test_the_function_denoise_keeps_its_name_after_its_module_loads():
    code = "import vqvae.denoise, vqvae; from vqvae import denoise; print(callable(denoise), type(vqvae.denoise).__name__)"
    assert _fresh(code) == "True function"


def test_the_version_has_one_source():
    from vqvae import _version, checkpoint

    assert vqvae.__version__ == _version.__version__ == checkpoint.__version__
    hatch = (ROOT / "pyproject.toml").read_text().split("[tool.hatch.version]")[1]
    assert hatch.split("[")[0].strip() == 'path = "src/vqvae/_version.py"'
