"""Sphinx configuration of the skanomaly documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html`` (warnings are
errors). Pages are MyST Markdown; the API reference comes from the
numpydoc docstrings. No example is executed.
"""

import re
import sys
from pathlib import Path

# Document the checkout the docs live in, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import skanomaly  # noqa: E402

project = "skanomaly"
author = "the skanomaly developers"
copyright = "2026, the skanomaly developers"
release = skanomaly.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
# The benchmark writes results.md next to its plots; benchmark.md includes it.
exclude_patterns = ["_build", "benchmark/*.md", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3

autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"  # numpydoc sections already state the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# No intersphinx: CI builds offline, and an unreachable inventory is a warning.

html_theme = "alabaster"
html_theme_options = {
    "description": "GAN-based anomaly detection for scikit-learn",
    "fixed_sidebar": True,
}
html_title = f"skanomaly {release}"


def _skip_metadata_requests(app, what, name, obj, skip, options):
    # scikit-learn generates set_*_request methods for metadata routing;
    # their docstrings refer to sklearn's own glossary, which is not here.
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


# A fitted attribute in a shape, as in "ndarray of shape (n_features_in_,)",
# reads as a reST link target; quote it as a literal instead.
_FITTED_NAME_IN_SHAPE = re.compile(r"(?<=[(\s,])([A-Za-z]\w*_)(?=,|\))")


def _quote_fitted_names(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        if " of shape (" in line and not line.lstrip().startswith((">>>", "...")):
            lines[i] = _FITTED_NAME_IN_SHAPE.sub(r"``\1``", line)


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
    app.connect("autodoc-process-docstring", _quote_fitted_names)
