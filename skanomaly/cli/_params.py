"""The detector parameters the commands set, declared once.

Each row of :data:`PARAMETERS` gives a detector parameter's flag, its
``argparse`` options, the range checked before any work, and which
detectors take it. From the table come the flags of ``train`` and ``demo``
(:func:`add_flag`), the range checks, the detector's keyword arguments
(:func:`detector_from_args`, :func:`demo_params`) and the flag names in
the detectors' error messages (:data:`PARAMETER_FLAGS`).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field

from .._limits import MAX_FILTERS, MAX_LATENT
from .._registry import detector_class
from ._common import CommandError, check_range

# Nothing heavy at import time: the parser imports this module.


def epochs_option(text: str):
    """``--epochs``: a number, or ``auto`` (the detector's own choice)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or auto, got {text!r}") from None


@dataclass(frozen=True)
class Parameter:
    """One detector parameter as a flag of the command line.

    Parameters
    ----------
    name : str
        The detector's parameter (and the ``argparse`` destination).
    flag : str
        The option that sets it.
    options : dict
        ``add_argument``'s keywords (``type``, ``help``...), as ``train`` has them.
    bounds : (low, high) or None
        Values outside are refused before any work (``high`` None: no upper bound).
    owners : tuple of str
        The ``--detector`` names that take it; empty: every detector.
    needs : str or None
        A parameter whose flag must be given too.
    """

    name: str
    flag: str
    options: dict = field(default_factory=dict)
    bounds: tuple | None = None
    owners: tuple[str, ...] = ()
    needs: str | None = None


PARAMETERS = (
    Parameter(
        "n_epochs",
        "--epochs",
        {
            "type": epochs_option,
            "metavar": "N|auto",
            "help": "training epochs (default: auto, the detector's budget of optimiser steps "
            "turned into epochs for the number of images)",
        },
        bounds=(1, None),
    ),
    Parameter("batch_size", "--batch-size", {"type": int, "help": "default: 64"}, (2, None)),
    Parameter(
        "n_filters",
        "--n-filters",
        {"type": int, "help": "conv width (default: 64)"},
        (1, MAX_FILTERS),
    ),
    Parameter(
        "latent_dim",
        "--latent-dim",
        {"type": int, "help": "default: chosen from the image size"},
        bounds=(1, MAX_LATENT),
    ),
    Parameter(
        "contamination",
        "--contamination",
        {"type": float, "help": "expected share of anomalies (default: 0.1)"},
        bounds=(1e-9, 0.5),
    ),
    Parameter(
        "learning_rate",
        "--learning-rate",
        {"type": float, "metavar": "LR", "help": "Adam's step (default: 2e-4)"},
    ),
    Parameter(
        "latent_steps",
        "--latent-steps",
        {"type": int, "metavar": "N", "help": "latent search steps per image"},
        owners=("anogan",),
    ),
    Parameter(
        "anomaly_score",
        "--anomaly-score",
        {
            "choices": ["latent", "reconstruction", "combined"],
            "help": "score by the latent error (the paper's, default), the reconstruction "
            "error, or both",
        },
        owners=("ganomaly",),
    ),
    Parameter(
        "disc_score",
        "--disc-score",
        {
            "choices": ["feature_matching", "cross_entropy"],
            "help": "the discriminator term of the score (default feature_matching)",
        },
        owners=("egbad",),
    ),
    # None when left out (not False): only a given flag reaches the detector.
    Parameter(
        "early_stopping",
        "--early-stopping",
        {"action": "store_true", "default": None, "help": "turn it on"},
    ),
    Parameter(
        "validation_fraction",
        "--validation-fraction",
        {"type": float, "metavar": "F", "help": "share held out (default 0.1)"},
        needs="early_stopping",
    ),
    Parameter(
        "n_iter_no_change",
        "--n-iter-no-change",
        {
            "type": int,
            "metavar": "N",
            "help": "stop after N epochs without improvement (default 10)",
        },
        needs="early_stopping",
    ),
    Parameter(
        "random_state",
        "--seed",
        {"type": int, "default": 0, "metavar": "SEED", "help": "default: 0, so that runs repeat"},
    ),
    Parameter("device", "--device", {"default": "auto", "help": "auto, cpu, cuda, cuda:1, ..."}),
)

_BY_NAME = {parameter.name: parameter for parameter in PARAMETERS}

#: Detector parameter -> the flag that sets it, so that errors name the flag.
PARAMETER_FLAGS = {parameter.name: parameter.flag for parameter in PARAMETERS}


def add_flag(parser, name: str, **options) -> None:
    """Add the flag of detector parameter ``name`` to ``parser`` (or a group of it).

    ``options`` replace the table's (``demo`` has defaults of its own).
    """
    parameter = _BY_NAME[name]
    options = {**parameter.options, **options}
    if parameter.owners and "help" in options:
        options["help"] = f"{' or '.join(parameter.owners)}: {options['help']}"
    parser.add_argument(parameter.flag, dest=name, **options)


def check_parameter_ranges(args) -> None:
    """Refuse out-of-range detector flags of ``train`` or ``demo`` before any work.

    ``vars(args)`` lists the flags in the order the command declares them,
    so the first wrong one is named, as ``--help`` lists them.
    """
    for name, value in vars(args).items():
        parameter = _BY_NAME.get(name)
        if parameter is not None and parameter.bounds is not None:
            check_range(parameter.flag, value, *parameter.bounds)


def with_flag_names(message: str) -> str:
    """A detector's error message, with its parameter names turned into flags."""
    # scikit-learn's "The 'n_epochs' parameter of GANomalyDetector must be ..."
    message = re.sub(
        r"The '(\w+)' parameter of \w+",
        lambda m: PARAMETER_FLAGS.get(m.group(1), m.group(0)),
        message,
    )
    for name, flag in PARAMETER_FLAGS.items():
        # Quoted names, "name=value", and names with an underscore (never prose).
        pattern = rf"'{name}'|\b{name}(?==)" + (rf"|\b{name}\b" if "_" in name else "")
        message = re.sub(pattern, flag, message)
    return message


def _verbose(args) -> int:
    return 0 if args.quiet else 1


def detector_from_args(args):
    """The detector ``train`` asks for, its parameters checked before any image is read.

    Options left out keep the detector's own defaults, as in Python; only
    ``--seed`` (0, so that runs repeat) and the progress bar differ.
    """
    params = {"verbose": _verbose(args)}
    for parameter in PARAMETERS:
        value = getattr(args, parameter.name, None)
        if value is None:
            continue
        if parameter.owners and args.detector not in parameter.owners:
            raise CommandError(
                f"{parameter.flag} applies to --detector {' or '.join(parameter.owners)}, "
                f"not {args.detector}"
            )
        params[parameter.name] = value
    for needed in {p.needs for p in PARAMETERS if p.needs and p.name in params}:
        if needed not in params:
            needing = [p.flag for p in PARAMETERS if p.needs == needed]
            raise CommandError(f"{' and '.join(needing)} need {PARAMETER_FLAGS[needed]}")
    detector = detector_class(args.detector)(**params)
    try:
        detector.check_params()  # the device was checked with the other flags
    except ValueError as exc:  # sklearn's InvalidParameterError is a ValueError
        raise CommandError(with_flag_names(str(exc))) from exc
    return detector


def demo_params(args) -> dict:
    """The detectors' parameters in the demo: their defaults but for the flags' (see --help)."""
    params = {p.name: getattr(args, p.name) for p in PARAMETERS if hasattr(args, p.name)}
    return {**params, "verbose": _verbose(args)}
