"""Named warnings and errors, for users to filter and catch.

Each subclasses what skanomaly raised before it had names, so that code
catching ``ValueError``, ``FloatingPointError`` or ``UserWarning`` keeps
working. Catch :class:`SkanomalyError` for any of skanomaly's own errors,
and filter :class:`SkanomalyWarning` for any of its warnings::

    import warnings
    from skanomaly.exceptions import DeviceWarning

    warnings.simplefilter("ignore", DeviceWarning)

Bad parameters and bad input arrays raise plain ``ValueError`` and
``TypeError``, as everywhere in scikit-learn.
"""

from __future__ import annotations

__all__ = [
    "ConstantFeatureWarning",
    "DeviceWarning",
    "ImageFolderWarning",
    "InvertedScoreTermWarning",
    "ModelFileError",
    "ModelTooLargeError",
    "SkanomalyError",
    "SkanomalyWarning",
    "TrainingDivergedError",
    "VersionMismatchWarning",
]


class SkanomalyError(Exception):
    """Base class of the errors skanomaly raises for its own conditions."""


class SkanomalyWarning(UserWarning):
    """Base class of the warnings skanomaly issues."""


class TrainingDivergedError(SkanomalyError, FloatingPointError):
    """Training diverged: an epoch's mean loss, or a training score, is not finite.

    Raised by ``fit`` and ``partial_fit`` when the mean loss of an epoch (of
    a ``partial_fit`` call) is NaN, infinite or 1e10 or more in magnitude
    (the losses of scaled data are O(1) to O(100)), or when the trained
    model gives non-finite anomaly scores on its own training data. A
    smaller ``learning_rate`` usually helps. ``fit`` leaves the estimator
    unfitted; a later ``partial_fit`` call leaves it as it was before.
    """


class ModelTooLargeError(SkanomalyError, ValueError):
    """The networks for these images would not fit in memory.

    Raised by ``fit`` (and a first ``partial_fit``) before any network is
    built, when training would need more memory than the device has free,
    or when the images, padded to a power-of-two square inside the
    convolutional networks, would exceed 4096 pixels a side. Resize the
    images, or lower ``n_filters`` or ``batch_size``.
    """


class ModelFileError(SkanomalyError, ValueError):
    """A file is not a skanomaly model file, is damaged, or is refused.

    Raised by :func:`skanomaly.load` and
    :func:`skanomaly.persistence.read_metadata`, before anything the file
    describes is used: not a zip archive (e.g. a pickle), a missing or
    malformed manifest, a digest that does not match, an unknown class or
    parameter, weights that would need to unpickle code, sizes beyond the
    limits for loaded models, or a model that gives non-finite scores. The
    message is one line.
    """


class VersionMismatchWarning(SkanomalyWarning):
    """A model was saved by other versions of skanomaly, torch, sklearn or numpy.

    Issued by :func:`skanomaly.load` for a model file, and on unpickling
    (``pickle.loads``, ``joblib.load``) a detector whose pickle records other
    versions, or none (pickles written before versions were recorded).
    """


class DeviceWarning(SkanomalyWarning):
    """A model was trained on a device this machine lacks and is loaded elsewhere.

    Issued when unpickling or loading a model trained on a CUDA device that
    is missing here: the networks go to the first GPU, or to the CPU, and
    ``device_`` says where.
    """


class InvertedScoreTermWarning(SkanomalyWarning):
    """EGBAD's discrimination term ranked the data backwards and was dropped.

    After training, :class:`~skanomaly.EGBADDetector` checks that the
    discrimination term of its score rates the training rows as more normal
    than the same rows with every feature shuffled across rows. When it does
    not, the term is dropped (``disc_weight_ = 0``) and the score is the
    reconstruction residual alone.
    """


class ConstantFeatureWarning(SkanomalyWarning):
    """Some features of tabular training data take a single value.

    Their spread is zero (or within the rounding of their mean), so they
    cannot be standardised: they are centred on that value and left in
    their units, and the networks learn nothing from them.
    """


class ImageFolderWarning(SkanomalyWarning):
    """An image folder held files that were not read, or images that disagree.

    Issued by :func:`skanomaly.datasets.load_image_folder` once per kind, in
    one line: the files it skipped (hidden entries, other file types, links
    and special files, loose files beside class folders), counted, with
    the first ones named (the result's ``skipped`` lists them all); colour
    images among grey ones (all are then read as RGB); images with
    transparent pixels (composited onto black).
    """
