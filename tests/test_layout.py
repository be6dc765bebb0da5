"""The shape of the package: module and class sizes, import direction, no cycles.

Read from the source (``ast``), nothing imported: the rules of the
developers' guide that a reorganisation must keep.
"""

import ast
from itertools import pairwise
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "skanomaly"
MAX_MODULE_LINES = 600
MAX_CLASS_LINES = 450


def _modules() -> dict[str, Path]:
    """``{dotted name: path}`` of every module of the package (``__init__`` as the package)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _package_of(name: str) -> str:
    """The package a module belongs to (a package belongs to itself)."""
    return name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]


def _module_level_imports(name: str):
    """``(line, imported module, names)`` of the imports run when ``name`` is imported.

    Imports inside functions run later, at call time (the package's lazy
    imports), and ``if TYPE_CHECKING`` blocks never: both are left out.
    """
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    package = _package_of(name)
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module
            yield node.lineno, target, tuple(alias.name for alias in node.names)


def _edges(name: str) -> set[str]:
    """The package's modules that importing ``name`` imports directly."""
    edges = set()
    for _, target, names in _module_level_imports(name):
        for item in names:
            if f"{target}.{item}" in MODULES:  # ``from package import submodule``
                edges.add(f"{target}.{item}")
        if target in MODULES and not all(f"{target}.{item}" in MODULES for item in names or "?"):
            edges.add(target)
    return edges - {name}


def test_no_module_is_too_long():
    lengths = {
        name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in MODULES.items()
    }
    assert {name: n for name, n in lengths.items() if n > MAX_MODULE_LINES} == {}


def test_no_class_is_too_long():
    long = {}
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_CLASS_LINES:
                    long[f"{name}.{node.name}"] = lines
    assert long == {}


@pytest.mark.parametrize("name", [n for n in MODULES if n.count(".")])
def test_no_submodule_imports_from_its_packages_init(name):
    # A package's __init__ imports its submodules; a submodule that imports
    # a name back from an __init__ above it makes the order of imports matter.
    parents = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    parents.discard(name)
    bad = [
        (line, target, names)
        for line, target, names in _module_level_imports(name)
        if target in parents and not all(f"{target}.{item}" in MODULES for item in names or "?")
    ]
    assert bad == []


def test_no_import_cycles():
    graph = {name: _edges(name) for name in MODULES}
    # Depth-first search for a back edge; report the cycle it closes.
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name)
    # A package's __init__ importing its own submodules is not a cycle unless
    # a submodule imports the __init__ back (tested above).
    cycles = [c for c in cycles if not _through_own_init(c)]
    assert cycles == []


def _through_own_init(cycle: list[str]) -> bool:
    """A cycle ``package -> package.sub -> ... -> package`` made only by parent imports."""
    return all(b.startswith(a + ".") or a.startswith(b + ".") for a, b in pairwise(cycle))


def test_the_checks_see_the_package():
    # Guards the tests above against reading nothing.
    assert {"skanomaly", "skanomaly._base", "skanomaly.detectors.ganomaly"} <= set(MODULES)
    assert "skanomaly._base" in _edges("skanomaly.detectors.ganomaly")
    assert "skanomaly._training" in _edges("skanomaly._base")
