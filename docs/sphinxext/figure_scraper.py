"""A sphinx-gallery image scraper for figures that pyplot does not manage.

:mod:`skanomaly.plot` returns ``matplotlib.figure.Figure`` objects made
without pyplot (no global state, no figure left open), which sphinx-gallery's
matplotlib scraper cannot see. This one shows, after each code block, every
such figure that the example has bound to a name, once, as a notebook
would show a figure returned by a cell.
"""

import weakref
from pathlib import PurePosixPath

from matplotlib.figure import Figure
from sphinx_gallery.scrapers import figure_rst

_SEEN = "_figure_scraper_seen"


def figure_scraper(block, block_vars, gallery_conf):
    """Save the example's new pyplot-less figures; return their reST.

    Runs before sphinx-gallery's matplotlib scraper: a pyplot figure still
    has its manager then, and is only marked as seen, as it is that
    scraper's (which closes it, after which it would look pyplot-less).
    """
    seen = block_vars.setdefault(_SEEN, weakref.WeakSet())
    figures = []
    for value in list(block_vars["example_globals"].values()):
        if isinstance(value, Figure) and value not in seen:
            seen.add(value)
            if value.canvas.manager is None:
                figures.append(value)
    paths = []
    for figure, path in zip(figures, block_vars["image_path_iterator"], strict=False):
        figure.savefig(path, dpi=100)
        paths.append(PurePosixPath(path))
    return figure_rst(paths, gallery_conf["src_dir"])
