"""The direction of imports: model code never loads training or CLI code, and no two
packages of vqvae import each other (directly or around a cycle)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "vqvae"
# What each library layer may not load, even indirectly.
LOWER_LAYERS = ["quantizers", "rate", "entropy", "models", "priors", "codec", "data"]
UPPER = ("vqvae.train", "vqvae.cli", "vqvae.runs")


@pytest.mark.parametrize("layer", LOWER_LAYERS)
def test_a_layer_loads_nothing_above_it(layer):
    code = (
        f"import sys, vqvae.{layer}\n"
        f"print(sorted(m for m in sys.modules if m.startswith({UPPER!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"import vqvae.{layer} loads {out.stdout.strip()}"


def _package_of(module: Path) -> str:
    """The top-level part of vqvae a module belongs to ("codec", "rate", ...)."""
    parts = module.relative_to(SRC).with_suffix("").parts
    return parts[0]


def _imported_packages(path: Path) -> set[str]:
    """The vqvae packages a module imports (relative imports resolved; the root excluded)."""
    tree = ast.parse(path.read_text())
    depth_of_module = len(path.relative_to(SRC).parts) - 1  # folders below vqvae/
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(path.relative_to(SRC).parts[:depth_of_module])
            base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            target = [*base, *(node.module.split(".") if node.module else [])]
            names = [target] if target else [[a.name] for a in node.names]
            found |= {t[0] for t in names if t}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vqvae."):
            found.add(node.module.split(".")[1])
    return found


def test_no_cycles_between_packages():
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        if path == SRC / "__init__.py" or path.name == "__main__.py":
            continue  # the root re-exports the public API
        own = _package_of(path)
        graph.setdefault(own, set()).update(_imported_packages(path) - {own, "__init__"})
    assert "train" not in graph["codec"] and "cli" not in graph["priors"]

    def cycle_from(node, stack):
        if node in stack:
            return [*stack[stack.index(node) :], node]
        for nxt in sorted(graph.get(node, ())):
            found = cycle_from(nxt, [*stack, node])
            if found:
                return found
        return None

    for node in sorted(graph):
        assert cycle_from(node, []) is None, " -> ".join(cycle_from(node, []))
