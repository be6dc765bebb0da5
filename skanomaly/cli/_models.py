"""The model files of ``skanomaly train``: writing, reading and checking them."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .._limits import MAX_STORED_SCORE
from .._version import IMAGE_MODEL_FORMAT
from ._common import CommandError, check_writable_folder

# skanomaly.persistence (and PyTorch with it) is imported when a file is read
# or written: ``skanomaly --help`` imports this module.


def save_model(
    path, detector, *, image_size, grayscale, train_dir, run=None, training_scores=None
) -> None:
    """Save a detector, with the image preprocessing ``score`` must repeat.

    The file is skanomaly's safe weights-only format (:func:`skanomaly.save`):
    model files can be shared and opened without running code from them.
    ``run`` (plain JSON: how the model was made) and ``training_scores``
    (the anomaly scores of the training images, from which ``score`` sets a
    ``--contamination`` or quantile threshold) go in its metadata.
    """
    from ..persistence import save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {
        "format": IMAGE_MODEL_FORMAT,
        "image_size": image_size,
        "grayscale": grayscale,
        "train_dir": str(train_dir),
    }
    if run is not None:
        metadata["run"] = run
    if training_scores is not None:
        metadata["training_anomaly_scores"] = [float(v) for v in training_scores]
    save(detector, path, metadata=metadata)


def read_model_file(path: Path, device=None):
    """``(metadata, detector, sha256)`` of a model file; any failure is one ``CommandError``.

    The digest, the metadata and the model are read through one open handle:
    a model saved over the file meanwhile (``save`` replaces it whole) cannot
    mix into what was read.
    """
    from ..persistence import load, read_metadata

    if path.is_dir():
        raise CommandError(f"MODEL {path} is a folder, not a model file")
    if not path.is_file():
        raise CommandError(f"model file {path} does not exist")
    with open(path, "rb") as handle:
        digest = hashlib.sha256()
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
        try:
            handle.seek(0)
            metadata = read_metadata(handle)
            handle.seek(0)
            detector = load(handle, device=device)
        except ValueError as exc:
            message = " ".join(str(exc).split())
            # The reader's messages often name the file already: say it once.
            if str(path) not in message:
                message = f"{path}: {message}"
            raise CommandError(message) from exc
    return metadata, detector, digest.hexdigest()


def load_model(path, device=None) -> dict:
    """Read a file written by :func:`save_model` (or by :func:`skanomaly.save`).

    ``device`` is passed to :func:`skanomaly.load`: ``None`` = the device the
    model was trained on when this machine has it. Returns the file's
    metadata, ``"detector"`` and the file's ``"sha256"``; ``"image_size"``
    is ``None`` (and ``"grayscale"`` too) for a detector saved from Python.
    """
    path = Path(path)
    metadata, detector, sha256 = read_model_file(path, device)
    if not is_image_model(metadata):  # a detector saved from Python
        metadata = {"image_size": None, "grayscale": None}
    _check_training_scores(path, metadata)
    if not hasattr(detector, "offset_"):
        raise CommandError(f"{path} holds a detector that was never fitted")
    if getattr(detector, "image_shape_", None) is None:
        raise CommandError(f"{path} holds a detector fitted on tabular data, not images")
    # The file's own description of its inputs must agree with the model: a
    # crafted "image_size" would otherwise make score resize to any size.
    size = metadata.get("image_size")
    height, width = detector.image_shape_[1:]
    if size is not None and size != height and size != [height, width]:
        raise CommandError(
            f"{path} is not a consistent skanomaly model file: image_size {size!r:.40} in its "
            f"metadata, but the model takes {height}x{width} images"
        )
    if isinstance(size, list):  # JSON has no tuples
        metadata["image_size"] = tuple(size)
    return {**metadata, "detector": detector, "sha256": sha256}


def _check_training_scores(path: Path, metadata: dict) -> None:
    """The training scores ``train`` stored: a non-empty list of finite numbers.

    ``score`` takes quantiles of them for its thresholds; anything else in
    a crafted file would be a traceback there, or a threshold of -inf.
    """
    scores = metadata.get("training_anomaly_scores")
    if scores is None:
        return
    if (
        not isinstance(scores, list)
        or not scores
        or not all(type(v) in (int, float) and abs(v) <= MAX_STORED_SCORE for v in scores)
    ):
        raise CommandError(
            f"{path}: malformed skanomaly model file: its training_anomaly_scores are not a "
            "non-empty list of finite anomaly scores"
        )


def is_image_model(metadata: dict) -> bool:
    """Whether a model file's metadata is that of a ``skanomaly train`` model."""
    return metadata.get("format") == IMAGE_MODEL_FORMAT


def check_model_output(path: Path) -> None:
    """Refuse a ``--output`` model file that cannot be written, before training."""
    if path.is_dir():
        raise CommandError(f"--output {path} is a folder; give the model file's name")
    check_writable_folder(path.parent, "model file")
