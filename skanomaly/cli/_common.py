"""What every command shares: the one-line user error, flag and folder checks, image reading."""

from __future__ import annotations

import errno
import json
import tempfile
from datetime import datetime, timezone
from pathlib import Path

# Nothing heavy at import time: the parser imports this module.


class CommandError(Exception):
    """A user error, reported as one line without a traceback."""


def check_range(flag: str, value, low, high) -> None:
    """Refuse ``value`` outside ``[low, high]`` (``high`` None: no upper bound), naming ``flag``.

    ``None`` (unset) and strings (``auto``) pass.
    """
    if value is None or isinstance(value, str):
        return
    if not (low <= value if high is None else low <= value <= high):
        bound = f"at least {low}" if high is None else f"in [{low}, {high}]"
        raise CommandError(f"{flag} must be {bound}, got {value}")


def check_flags(args, **rules) -> None:
    """Refuse out-of-range values of the command's own flags (``name=(low, high)``), now."""
    for name, (low, high) in rules.items():
        check_range("--" + name.replace("_", "-"), getattr(args, name, None), low, high)


def check_device(device: str) -> None:
    """Refuse a ``--device`` this machine does not have, before any work."""
    from .._runtime import resolve_device

    try:
        resolve_device(device)
    except ValueError as exc:
        raise CommandError(f"--device: {exc}") from None


def split_folder(data_dir, split: str) -> Path:
    """``DATA_DIR/<split>`` when it exists, else ``DATA_DIR`` itself."""
    root = Path(data_dir)
    if not root.exists():
        raise CommandError(f"folder {root} does not exist")
    if not root.is_dir():
        raise CommandError(f"{root} is not a folder")
    return root / split if (root / split).is_dir() else root


def read_image_folder(folder: Path, args, *, in_memory: bool, **options):
    """The images of ``folder``, labelled as ``--normal-class``/``--anomalous-class`` say.

    ``in_memory=False`` (``train``): an
    :class:`~skanomaly.datasets.ImageFolderDataset`, each image read from
    disk when the training needs it. ``in_memory=True`` (``score``): the
    arrays, labels and defect masks of
    :func:`~skanomaly.datasets.load_image_folder`. ``options``: how to read
    them (``image_size``, ``grayscale``).
    """
    from ..datasets import ImageFolderDataset, load_image_folder

    classes = {"normal_class": args.normal_class, "anomalous_class": args.anomalous_class}
    if in_memory:
        return load_image_folder(folder, return_masks=True, **classes, **options)
    return ImageFolderDataset(folder, **classes, **options)


def check_writable_folder(folder: Path, what: str) -> None:
    """Make sure the ``what`` can be written in ``folder`` (made later if missing), now.

    Nothing is created here: the folder may lie inside the data folder,
    which is listed next.
    """
    existing = folder.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"{existing} is not a folder")
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise CommandError(f"cannot write the {what} in {folder}: {exc.strerror or exc}") from None


def shape_text(shape) -> str:
    """``(1, 8, 8)`` -> ``"1x8x8"``."""
    return "x".join(str(s) for s in shape)


def auc_ap(y, anomaly_scores):
    """ROC-AUC and average precision of anomaly scores against labels (1 = anomaly)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    return roc_auc_score(y, anomaly_scores), average_precision_score(y, anomaly_scores)


def provenance(args) -> dict:
    """What produced a run: the command line, the versions, the time."""
    from .._runtime import library_versions

    return {
        "command": ["skanomaly", *args.argv],
        "versions": library_versions(),
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def json_ready(value):
    """Parameters and metrics as plain JSON (numpy numbers and tuples included)."""
    return json.loads(
        json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v))
    )
