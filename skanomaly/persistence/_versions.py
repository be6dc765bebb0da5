"""The library versions a model file or a pickle records, and the warning when they differ.

Model files record them in their manifest, pickled detectors in their state
(under :data:`PICKLE_VERSIONS`); both are compared with this installation's
(:func:`skanomaly._runtime.library_versions`) when read back.
"""

from __future__ import annotations

import warnings
from typing import Any

from .._runtime import library_versions
from ..exceptions import VersionMismatchWarning

__all__ = ["PICKLE_VERSIONS", "warn_on_version_mismatch"]

# Where a pickled detector records the library versions that wrote it.
PICKLE_VERSIONS = "_skanomaly_versions"


def warn_on_version_mismatch(
    written: Any, what: str = "skanomaly model file", stacklevel: int = 4
) -> None:
    """Warn when ``written`` (library -> version) differs from this installation's.

    ``None`` (or anything but a dict) means the writer recorded no versions:
    a skanomaly from before versions were recorded.  Only releases are
    compared: ``"2.4.0+cu121"`` and ``"2.4.0+cpu"`` are the same torch.

    Warns
    -----
    VersionMismatchWarning
        Naming each library whose version differs, or saying that none
        were recorded.
    """
    here = library_versions()
    if not isinstance(written, dict):
        warnings.warn(
            f"this {what} records no library versions: it was written by an older "
            f"skanomaly than {here['skanomaly']}; it may load or score differently.",
            VersionMismatchWarning,
            stacklevel=stacklevel,
        )
        return
    differ = [
        f"{name} {str(written.get(name))[:40]!r} (here {version!r})"
        for name, version in here.items()
        if str(written.get(name)).split("+")[0] != version.split("+")[0]
    ]
    if differ:
        warnings.warn(
            f"this {what} was written with " + ", ".join(differ) + "; "
            "it may load or score differently.",
            VersionMismatchWarning,
            stacklevel=stacklevel,
        )
