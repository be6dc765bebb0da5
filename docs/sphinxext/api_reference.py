"""The API reference's listings, generated from the package at each build.

Every public module of skanomaly (no leading underscore in its path) is
listed with the first paragraph of its docstring and every name in its
``__all__``, so that a new module or name appears in the reference without
anyone editing it. An object exported by several modules (``skanomaly.save``
is ``skanomaly.persistence.save``) gets one page, under the first module
below, and a link from the others; submodules of a subpackage whose names
the subpackage exports (``skanomaly.networks.dcgan``) are covered by it.

The listing is written to ``docs/_generated_api.rst`` when the build
starts (``config-inited``, before autosummary looks for its entries);
``api.rst`` includes it. ``python docs/sphinxext/api_reference.py`` prints
it.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

PACKAGE = "skanomaly"
# Modules in the order the reference presents them; any other public module
# follows, in name order.
ORDER = [
    "skanomaly",
    "skanomaly.persistence",
    "skanomaly.export",
    "skanomaly.exceptions",
    "skanomaly.datasets",
    "skanomaly.metrics",
    "skanomaly.plot",
    "skanomaly.pyod",
    "skanomaly.cli",
    "skanomaly.networks",
    "skanomaly.losses",
    "skanomaly.detectors",
]
LISTING = "_generated_api.rst"


def _is_public(name: str) -> bool:
    return not any(part.startswith("_") for part in name.split("."))


def public_modules(package: str = PACKAGE) -> list[str]:
    """Every importable public module of ``package``, the package itself first."""
    root = importlib.import_module(package)
    names = [package] + [
        info.name
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}.")
        if _is_public(info.name)
    ]
    return names


def public_names(module_name: str) -> list[str]:
    """The names a module exports (``__all__``), dunders such as ``__version__`` aside."""
    module = importlib.import_module(module_name)
    return [name for name in getattr(module, "__all__", []) if not name.startswith("__")]


def _covered_by_parent(module_name: str, modules: list[str]) -> bool:
    """A submodule whose every name its (public, listed) package exports too."""
    parent = module_name.rpartition(".")[0]
    if parent == PACKAGE or parent not in modules:
        return False
    return set(public_names(module_name)) <= set(public_names(parent))


def _kind(obj) -> str:
    """Which template and cross-reference role an object gets."""
    if inspect.isclass(obj):
        if issubclass(obj, BaseException):
            return "exc"
        if any(base.__module__.startswith("torch.nn") for base in inspect.getmro(obj)[1:]):
            return "torch_module"
        return "class"
    if callable(obj):
        return "func"
    return "data"


def _summary(module) -> str:
    doc = inspect.getdoc(module) or ""
    return " ".join(doc.split("\n\n")[0].split())


def listed_modules() -> list[str]:
    """The modules the reference has a section for, in its order."""
    found = public_modules()
    ordered = [name for name in ORDER if name in found]
    ordered += sorted(set(found) - set(ordered))
    return [name for name in ordered if not _covered_by_parent(name, found)]


def listing() -> str:
    """The reST of every section: module title, summary, one autosummary entry per name."""
    documented: dict[int | str, str] = {}  # id(object) -> the documented full name
    lines = []
    for module_name in listed_modules():
        module = importlib.import_module(module_name)
        title = f"``{module_name}``"
        lines += [title, "-" * len(title), "", f".. module:: {module_name}", ""]
        lines += [_summary(module), ""]
        groups: dict[str, list[str]] = {}
        elsewhere = []
        for name in public_names(module_name):
            obj = getattr(module, name)
            kind = _kind(obj)
            # Data (numbers, tuples) may be the same object by chance: only
            # classes and functions count as exported twice.
            key = id(obj) if kind != "data" else f"{module_name}.{name}"
            if key in documented:
                role = {"torch_module": "class"}.get(kind, kind)
                role = "obj" if role == "data" else role
                elsewhere.append(f":py:{role}:`{name} <{documented[key]}>`")
                continue
            documented[key] = f"{module_name}.{name}"
            groups.setdefault(kind, []).append(name)
        for kind in ("class", "torch_module", "exc", "func", "data"):
            if kind not in groups:
                continue
            lines += [f".. currentmodule:: {module_name}", "", ".. autosummary::"]
            lines += ["   :toctree: generated", "   :nosignatures:"]
            if kind == "torch_module":
                lines.append("   :template: autosummary/torch_module.rst")
            lines.append("")
            lines += [f"   {name}" for name in groups[kind]]
            lines.append("")
        if elsewhere:
            lines += ["Also exported here: " + ", ".join(elsewhere) + ".", ""]
    return "\n".join(lines)


def write_listing(app, config) -> None:
    """``config-inited``: write the listing where ``api.rst`` includes it, if it changed."""
    path = Path(app.srcdir) / LISTING
    text = listing()
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _drop_type_docstrings(app, what, name, obj, options, lines):
    # A constant without a doc comment (``#:``) would show its type's docstring
    # ("int([x]) -> integer"): show nothing rather than that.
    if what == "data" and not callable(obj):
        type_doc = inspect.getdoc(type(obj)) or ""
        if lines and "\n".join(lines).strip() == type_doc.strip():
            lines.clear()


def setup(app):
    app.connect("config-inited", write_listing)
    # Before numpydoc (priority 500) reformats the docstring.
    app.connect("autodoc-process-docstring", _drop_type_docstrings, priority=50)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's skanomaly
    print(listing())
