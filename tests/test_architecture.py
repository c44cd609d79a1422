"""The shape of the code, read from its imports (with ``ast``, nothing is imported): the core's
subpackages form layers that import only downwards and without cycles, and plugins import nothing
of the core but :mod:`ashcore.api`. The layers are those docs/architecture.md draws."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "ashcore"
#: Bottom to top; a module may import from its own layer (without cycles) or from a lower one.
LAYERS = [
    ("base", ["ashcore", "ashcore.errors", "ashcore.console", "ashcore.process"]),
    ("fs", ["ashcore.fs"]),
    ("sandbox", ["ashcore.sandbox"]),
    ("store", ["ashcore.store"]),
    ("hooks", ["ashcore.hooks"]),
    ("boot", ["ashcore.boot"]),
    ("ops", ["ashcore.ops"]),
    ("install", ["ashcore.install"]),
    ("cli", ["ashcore.cli"]),
    ("api", ["ashcore.api", "ashcore.__main__"]),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def core_modules() -> dict[str, Path]:
    return {module_name(p): p for p in CORE.rglob("*.py")}


def layer_of(module: str) -> int:
    """The index of the layer holding ``module`` (the most specific prefix wins)."""
    best = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            exact = module == prefix
            below = module.startswith(prefix + ".") and prefix != "ashcore"
            if (exact or below) and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")
    return best[0]


def imports(path: Path, modules: set[str]) -> list[tuple[str, bool]]:
    """The ``ashcore`` modules that the file imports, each with whether it is needed at run time
    (imports under ``if TYPE_CHECKING:`` are not)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for stmt in block.body
        for node in ast.walk(stmt)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        found += [(t, id(node) not in typing_only) for t in targets if t == "ashcore" or t.startswith("ashcore.")]
    return found


def graph() -> dict[str, list[tuple[str, bool]]]:
    modules = core_modules()
    return {name: imports(path, set(modules)) for name, path in modules.items()}


def test_every_core_module_is_in_a_layer():
    for name in core_modules():
        layer_of(name)


def test_imports_only_go_down_the_layers():
    upward = [
        f"{mod} ({LAYERS[layer_of(mod)][0]}) imports {dep} ({LAYERS[layer_of(dep)][0]})"
        for mod, deps in graph().items()
        for dep, _ in deps
        if layer_of(dep) > layer_of(mod)
    ]
    assert not upward, "\n".join(upward)


def test_the_core_has_no_import_cycle():
    runtime = {mod: sorted({d for d, needed in deps if needed and d != mod}) for mod, deps in graph().items()}
    state: dict[str, int] = {}

    def visit(mod: str, path: list[str]) -> None:
        state[mod] = 1
        for dep in runtime.get(mod, []):
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path[path.index(dep) :], dep]))
            if dep not in state:
                visit(dep, [*path, dep])
        state[mod] = 2

    for mod in sorted(runtime):
        if mod not in state:
            visit(mod, [mod])


def test_the_layers_are_those_the_architecture_page_draws():
    page = (ROOT / "docs/architecture.md").read_text()
    drawn = re.findall(r"^\s*\d+\s+(\w+)\s+", page.split("## Layers", 1)[1].split("##", 1)[0], re.M)
    assert drawn == [name for name, _ in LAYERS][::-1]


PLUGIN_CODE = sorted(p for p in (ROOT / "plugins").glob("*/ash_*/**/*.py"))


@pytest.mark.parametrize("path", PLUGIN_CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_import_only_the_plugin_api(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    used = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    used |= {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module and not node.level
    }
    assert {m for m in used if m.split(".")[0] == "ashcore"} <= {"ashcore.api"}


@pytest.mark.parametrize("pyproject", sorted((ROOT / "plugins").glob("*/pyproject.toml")), ids=lambda p: p.parent.name)
def test_plugins_pin_the_ashcore_range_they_were_written_for(pyproject: Path):
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    pins = [d for d in deps if re.match(r"ashcore\b", d)]
    assert len(pins) == 1 and ">=" in pins[0] and "<" in pins[0].replace("<=", ""), pins


def test_the_api_names_exactly_what_it_exports():
    import ashcore.api as api

    for name in api.__all__:
        assert getattr(api, name) is not None, name
    assert set(api.__all__) == set(api._WHERE)
