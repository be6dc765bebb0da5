"""Writing files whole: the one atomic writer every file skanomaly writes goes through.

A file is written to a temporary file beside its destination and renamed
over it at the end: ``os.replace`` is atomic, so a reader, or a run killed
half-way, sees the old file or the complete new one, never part of one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["atomic_write"]


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", *, durable: bool = False, **options):
    """Open ``path`` for writing through a temporary file renamed into place at the end.

    Parameters
    ----------
    path : str or os.PathLike
        The destination; its folder must exist.
    mode : {"wb", "w"}
        Binary or text.  Text is UTF-8 unless ``encoding`` says otherwise.
    durable : bool, default False
        Flush the file to disk before the rename, and the rename itself
        after it (for files that must survive a power cut: model files).
    **options
        Passed to :func:`open` (``encoding``, ``errors``, ``newline``).

    Yields
    ------
    handle : file object
        Write to it; the destination is replaced when the block ends without
        an exception, and left as it was otherwise.

    Notes
    -----
    The temporary file is created as ``open`` creates files (mode 0o666
    less the umask; ``tempfile`` would make it 0600), with a short hidden
    name, so that it stays within ``NAME_MAX`` beside a long file name.

    Examples
    --------
    >>> import os, tempfile
    >>> from skanomaly._io import atomic_write
    >>> path = os.path.join(tempfile.mkdtemp(), "run.json")
    >>> with atomic_write(path, "w") as handle:
    ...     _ = handle.write("{}")
    >>> open(path).read()
    '{}'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write writes whole files: mode 'wb' or 'w', got {mode!r}")
    path = Path(path)
    if mode == "w":
        options.setdefault("encoding", "utf-8")
    while True:
        temporary = path.with_name(f".skanomaly-{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with open(fd, mode, **options) as handle:
            yield handle
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if durable:
        # Make the rename itself durable (POSIX); not possible everywhere.
        with contextlib.suppress(OSError, AttributeError):
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
