"""A sphinx-gallery image scraper for figures that pyplot does not manage.

:mod:`skanomaly.plot` returns ``matplotlib.figure.Figure`` objects made
without pyplot (no global state, no figure left open), which sphinx-gallery's
matplotlib scraper cannot see. This one shows, after each code block, every
such figure that the example has bound to a name, once, as a notebook
would show a figure returned by a cell.
"""

from pathlib import PurePosixPath

from matplotlib.figure import Figure
from sphinx_gallery.scrapers import figure_rst

_SHOWN = "_figure_scraper_shown"


def figure_scraper(block, block_vars, gallery_conf):
    """Save the example's new pyplot-less figures; return their reST."""
    shown = block_vars.setdefault(_SHOWN, set())
    figures = [
        value
        for value in list(block_vars["example_globals"].values())
        if isinstance(value, Figure) and value.canvas.manager is None and id(value) not in shown
    ]
    paths = []
    for figure, path in zip(figures, block_vars["image_path_iterator"], strict=False):
        shown.add(id(figure))
        figure.savefig(path, dpi=100)
        paths.append(PurePosixPath(path))
    return figure_rst(paths, gallery_conf["src_dir"])
