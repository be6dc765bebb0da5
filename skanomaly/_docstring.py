"""Docstring entries written once: ``%(name)s`` placeholders filled at import.

The pattern of imbalanced-learn's ``Substitution``: a module keeps the
numpydoc entries several of its docstrings share in a dict, and marks those
docstrings with the decorator :func:`filler` makes. The detectors, the
networks and the plotting functions use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

__all__ = ["filler"]


def filler(entries: Mapping[str, str]) -> Callable:
    """A decorator that fills the ``%(name)s`` placeholders of a docstring from ``entries``.

    A placeholder stands indented in the docstring: the first line of an
    entry goes in without its own indentation, the others keep theirs.

    Examples
    --------
    >>> from skanomaly._docstring import filler
    >>> fill = filler({"x": "x : int\\n        The value."})
    >>> @fill
    ... def f(x):
    ...     '''Parameters
    ...     ----------
    ...     %(x)s
    ...     '''
    >>> print(f.__doc__)
    Parameters
        ----------
        x : int
            The value.
    <BLANKLINE>
    """
    entries = {f"%({name})s": text.lstrip() for name, text in entries.items()}

    def fill(obj):
        # Plain replacement, not ``%`` formatting: a literal "%" elsewhere in
        # the docstring stays as it is.
        for placeholder, text in entries.items():
            if obj.__doc__:  # None under ``python -OO``
                obj.__doc__ = obj.__doc__.replace(placeholder, text)
        return obj

    return fill
