"""The package order of ../shared/DESIGN.md holds: each part of vqvae imports only the parts
before it in ``ORDER`` (read from the code, function-level imports included), no two files
import each other around a cycle, the root loads its names lazily, and no function is longer
than 100 lines."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "vqvae"
# Lowest first; each line of DESIGN.md's layer list, in an order that also ranks its members.
ORDER = [
    "errors", "progress", "dist", "limits", "device", "visualize",  # leaves
    "_version", "checkpoint", "rate", "pretrained",  # version, files, bits, zoo names
    "corruptions", "metrics", "media",  # corruption specs; metrics; image and sound I/O
    "config", "entropy",
    "quantizers", "priors",
    "models",
    "data", "evaluation", "denoise",
    "codec", "train", "export",
    "runs",
    "report",
    "cli",
]  # fmt: skip
MAX_FUNCTION_LINES = 100


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    parts = parts[:-1] if parts[-1] == "__init__" else parts
    return ".".join(("vqvae", *parts))


def _imports(path: Path) -> set[str]:
    """The vqvae modules a file imports (relative imports resolved, function-level ones
    included), as dotted names."""
    is_package = path.name == "__init__.py"
    own = _module_name(path).split(".")
    base_of_file = own if is_package else own[:-1]
    tree = ast.parse(path.read_text())
    typing_only = {  # imports under `if TYPE_CHECKING:` never run
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = base_of_file[: len(base_of_file) - (node.level - 1)]
                target = [*base, *(node.module.split(".") if node.module else [])]
            elif (node.module or "").split(".")[0] == "vqvae":
                target = node.module.split(".")
            else:
                continue
            for alias in node.names:  # `from . import x` may name a module
                found.add(".".join([*target, alias.name]))
            found.add(".".join(target))
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "vqvae"}
    return found


def _files() -> dict[str, Path]:
    return {_module_name(p): p for p in SRC.rglob("*.py") if p.name != "__main__.py"}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_part_has_a_place_in_the_order():
    parts = {_part(m) for m in _files()} - {""}
    assert parts <= set(ORDER), f"not in ORDER: {sorted(parts - set(ORDER))}"


def test_each_part_imports_only_parts_before_it():
    rank = {name: i for i, name in enumerate(ORDER)}
    wrong = []
    for module, path in _files().items():
        own = _part(module)
        if not own:
            continue  # the root: its lazy names are checked below
        for target in _imports(path):
            other = _part(target)
            if other and other != own and other in rank and rank[other] > rank[own]:
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the order: " + ", ".join(sorted(wrong))


def test_no_cycle_between_files():
    files = _files()
    graph = {m: {t for t in _imports(p) if t in files and t != m} for m, p in files.items()}
    # a package's __init__ re-exports its modules: only its own modules' edges back count
    graph = {
        m: {t for t in targets if not (m.startswith(t + ".") and files[t].name == "__init__.py")}
        for m, targets in graph.items()
    }
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def _loaded_after(statement: str) -> list[str]:
    code = (
        f"import sys\n{statement}\nprint(sorted(m for m in sys.modules if m.startswith('vqvae')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return eval(out.stdout)  # a list of module names printed by the child


def test_the_root_loads_its_names_lazily():
    assert _loaded_after("import vqvae") == ["vqvae", "vqvae._version"]
    loaded = _loaded_after("from vqvae import VQVAE")
    assert "vqvae.models" in loaded and "vqvae.codec" not in loaded


@pytest.mark.parametrize("part", ["quantizers", "models", "priors", "codec", "data", "media"])
def test_importing_a_part_loads_nothing_after_it(part):
    rank = {name: i for i, name in enumerate(ORDER)}
    loaded = {_part(m) for m in _loaded_after(f"import vqvae.{part}")} - {""}
    later = sorted(p for p in loaded if rank.get(p, -1) > rank[part])
    assert not later, f"import vqvae.{part} loads {later}"


def test_the_codec_is_free_of_data():
    loaded = {_part(m) for m in _loaded_after("import vqvae.codec")}
    assert not loaded & {"data", "train", "cli", "runs"}


def test_no_function_is_longer_than_the_limit():
    long = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(SRC)}:{node.name} ({lines} lines)")
    assert not long, "functions over the limit: " + ", ".join(long)
