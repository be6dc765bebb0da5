"""Parameter and attribute documentation shared by the three detectors.

Written once here and substituted into each detector's docstring by
:func:`fill_doc` (the pattern of imbalanced-learn's ``Substitution``), so
that the detectors' docstrings keep only what is their own.
"""

from __future__ import annotations

from fractions import Fraction

from .._docstring import filler
from .._sizes import _AUTO_EPOCHS

__all__ = ["fill_doc"]

_SHARED_PARAMETERS = """\
    contamination : float or "auto", default=0.1
        Expected share of outliers in the training data, in (0, 0.5]. It
        sets ``offset_`` so that this share of the training rows is flagged
        by their out-of-bag scores (``decision_scores_``), and, with
        ``robust_training``, the share of each batch left out of training.
        ``"auto"``: ``offset_`` flags the training scores above the upper
        Tukey fence (third quartile + 1.5 interquartile ranges), and robust
        training drops 10% of each batch.
    n_epochs : int or "auto", default="auto"
        Passes over the training data (the most, with ``early_stopping``).
        ``"auto"`` aims at about %(auto_steps)s, within %(auto_epochs)s
        epochs.
    batch_size : int, default=64
        Rows (images) per training step.
    learning_rate : float, default=2e-4
        Adam learning rate (beta1 = 0.5) of every network.
    latent_dim : int, default=None
        Size of the code ``z``. ``None``: %(tabular_latent)s for tabular
        data; 100 for images of 1,024 values or more, else a quarter of the
        pixel count (at least 16).
    hidden_dims : sequence of int, default=None
        Widths of the MLP layers for tabular data. ``None``:
        %(tabular_hidden)s.
    n_filters : int, default=64
        Channels of the first convolution of the image networks.
    image_shape : tuple of int, default=None
        ``(C, H, W)`` or ``(H, W)``: the rows of a 2-D ``X`` are flattened
        images. 3-D ``(n, H, W)`` and 4-D ``(n, C, H, W)`` arrays are
        recognised as images without it.
    device : str or torch.device, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds everything ``fit`` draws: weight initialisation, batch order,
        training noise, the validation split (locally: the global torch and
        numpy generators are left alone).
    verbose : int, default=0
        0 silent, 1 a progress bar over epochs with live losses, 2 a line
        per epoch.
    n_estimators : int or "auto", default="auto"
        Networks trained side by side in one pass (an ensemble), each on a
        random ``ceil(k / 2)`` of every ``k`` rows. A sample's score is the
        mean of the members' scores, each standardised by the median and
        interquartile range of its scores on the rows it did not train on;
        a training row is scored by those members only (out of bag), which
        is what ``offset_`` is taken from. ``"auto"``: 5 for tabular data,
        1 for images (the convolutional networks train one model). With 1,
        the score is the paper's and every row trains the model.
    robust_training : bool or "auto", default="auto"
        Leave out of each training step the share ``contamination`` of the
        batch's rows (per member) that the model explains worst -- its
        anomalies, likely -- so that the networks do not learn the
        anomalies of a contaminated training set (loss truncation). False
        trains on every row, as the papers do. ``"auto"``:
        %(robust_auto)s.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, monitor a
        label-free loss on it after every epoch (``history_["val_loss"]``:
        %(val_loss)s), stop when it has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, and keep the weights of the best epoch.
    validation_fraction : float, default=0.1
        Share of the training data held out with ``early_stopping``.
    n_iter_no_change : int, default=10
        Epochs without improvement before ``early_stopping`` stops.
    tol : float, default=1e-4
        Smallest decrease of the validation loss that counts as an
        improvement."""

_SHARED_ATTRIBUTES = """\
    offset_ : float
        Threshold on ``score_samples``: ``decision_function = score_samples - offset_``.
    decision_scores_ : ndarray of shape (n_samples,)
        Anomaly scores of the training rows (higher = more abnormal, PyOD's
        name), each by the ensemble members that did not train on it (by
        the one model when ``n_estimators_ == 1``); ``offset_`` is their
        ``contamination`` quantile, negated. After ``partial_fit``: the
        scores of the most recent training rows (at most 10,000), each
        taken before training on it.
    n_estimators_ : int
        Number of ensemble members (``n_estimators`` resolved).
    trim_fraction_ : float
        Share of each batch that robust training left out (0 without it).
    member_scaling_ : ndarray of shape (2, n_estimators_)
        With several members: the median and the spread of each member's
        out-of-bag scores, which standardise its scores.
    n_epochs_ : int
        Epochs planned (``n_epochs`` resolved).
    n_epochs_trained_ : int
        Epochs actually trained (fewer when early stopping stopped).
    n_samples_seen_ : int
        Rows given to ``partial_fit`` so far (and to ``fit`` before it, if
        it followed ``fit``); not set by ``fit``.
    best_epoch_ : int
        With ``early_stopping``: the epoch whose weights were kept.
    latent_dim_ : int
        Size of the code.
    hidden_dims_ : tuple of int or None
        MLP widths (``None`` for images).
    image_shape_ : tuple of int or None
        ``(C, H, W)`` of the training images, ``None`` for tabular data.
    shift_, scale_ : ndarray of shape (n_features_in_,)
        Input scaling learned in ``fit``: ``(X - shift_) / scale_``.
    device_ : str
        Device the networks live on.
    n_features_in_ : int
        Number of features (values per image) seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit``; only for DataFrame input."""


# Every detector's example: the same data, the class's own quick settings.
_EXAMPLE = """\
Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import {name}
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4))
    >>> detector = {name}({params}, random_state=0).fit(X)
    >>> detector.predict([[0.0, 0.0, 0.0, 0.0], [9.0, -9.0, 9.0, -9.0]])
    array([ 1, -1])"""


def _steps_text(cls) -> str:
    """The ``"auto"`` step counts of ``cls``, as the ``n_epochs`` entry says them."""
    steps, shrink = cls._auto_steps, cls._auto_steps_shrink
    if steps["tabular"] == steps["image"]:
        text = f"{steps['tabular']:,} optimiser steps"
    else:
        text = (
            f"{steps['tabular']:,} optimiser steps on tabular data and "
            f"{steps['image']:,} on images"
        )
    # Tabular fits train an ensemble by default: its members' rows count.
    for kind, samples in (("tabular", "rows a member"), ("image", "images")):
        if shrink[kind] is not None:
            full_until, floor = shrink[kind]
            text += (
                f"\n        (on n > {full_until:,} {samples}: {steps[kind]:,} * "
                f"max(sqrt({full_until:,} / n), {Fraction(floor).limit_denominator(8)}))"
            )
    return text


def _robust_text(cls) -> str:
    """What ``robust_training="auto"`` resolves to, from ``cls._robust_auto``."""
    on = cls._robust_auto
    if on["tabular"] and not on["image"]:
        return (
            "True for tabular data, False for images (whose training folders are\n"
            "        usually clean)"
        )
    if not on["tabular"] and not on["image"]:
        return "False, on tables too (see Notes)"
    raise ValueError(f"no text for _robust_auto={on}")


def fill_doc(cls):
    """Class decorator: put the shared sections into ``cls.__doc__``.

    ``%(parameters)s`` (the section's heading and the shared entries),
    ``%(shared_attributes)s`` and ``%(examples)s`` in the docstring are
    replaced; the parameter text names the class's own ``"auto"`` step
    counts and early-stopping loss (``_val_loss_doc``).
    """
    latent, hidden = cls._tabular_sizes_doc
    parameters = (
        _SHARED_PARAMETERS.replace("%(auto_steps)s", _steps_text(cls))
        .replace("%(val_loss)s", cls._val_loss_doc)
        .replace("%(tabular_latent)s", latent)
        .replace("%(tabular_hidden)s", hidden)
        .replace("%(auto_epochs)s", "{:,} to {:,}".format(*_AUTO_EPOCHS))
        .replace("%(robust_auto)s", _robust_text(cls))
    )
    example = _EXAMPLE.format(name=cls.__name__, params=cls._doc_example_params)
    entries = {
        "parameters": "Parameters\n    ----------\n    " + parameters.lstrip(),
        "shared_attributes": _SHARED_ATTRIBUTES,
        "examples": example,
    }
    filler(entries)(cls)
    return cls
