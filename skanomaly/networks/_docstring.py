"""Parameter entries shared by the networks' docstrings, written once.

A docstring names an entry as a ``%(name)s`` placeholder, filled by
:func:`fill_doc` (the pattern of the detectors' shared docstrings).
"""

from __future__ import annotations

from .._docstring import filler

__all__ = ["fill_doc"]

_PARAMETERS = {
    "in_dim": """in_dim : int
        Number of input features.""",
    "latent_dim": """latent_dim : int
        Size of the code.""",
    "n_members": """n_members : int, default=1
        Independent copies run in one pass (see :mod:`skanomaly.networks.mlp`).""",
    "image_shape": """image_shape : tuple of int
        ``(C, H, W)`` with ``H, W >= 8``.""",
    "n_filters": """n_filters : int, default=64
        Channels of the first convolution; doubled at every halving.""",
}


#: Decorator: fill the ``%(name)s`` placeholders of a docstring.
fill_doc = filler(_PARAMETERS)
