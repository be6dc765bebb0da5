"""The order of the example gallery: the quickstarts first, then by file name.

sphinx-gallery imports this by name (``within_subsection_order``); a new
``examples/*.py`` is picked up without being listed here.
"""

from pathlib import Path

FIRST = ("tabular_quickstart.py", "quickstart.py", "image_folder.py")


class ExampleOrder:
    """Sort key over example paths: those in ``FIRST`` in that order, then the rest."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = Path(filename).name
        return (FIRST.index(name), "") if name in FIRST else (len(FIRST), name)

    def __repr__(self):
        # sphinx-gallery compares configurations by repr to decide on rebuilds.
        return f"<{type(self).__name__}>"
