"""The argument parser of the ``skanomaly`` command, and its entry point.

Only the standard library is imported here: ``skanomaly --help`` and every
``--help`` answer at once. A command's module (with NumPy, and PyTorch
inside its functions) is imported when the command runs.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys

from .._limits import MAX_IMAGE_SIDE
from .._registry import DETECTOR_NAMES
from .._version import __version__
from ._common import CommandError
from ._params import add_flag


def _image_size(value: str):
    """``--image-size``: ``S`` or ``HxW`` -> ``S`` or ``(H, W)``."""
    try:
        parts = [int(v) for v in value.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts) < 8 or max(parts) > MAX_IMAGE_SIDE:
        raise argparse.ArgumentTypeError(
            f"expected S or HxW with sides from 8 to {MAX_IMAGE_SIDE}, got {value!r}"
        )
    return parts[0] if len(parts) == 1 else tuple(parts)


def _threshold_option(text: str):
    """``--threshold``: an anomaly score, or ``qP`` for the quantile ``P`` in (0, 1)."""
    try:
        if text.lower().startswith("q"):
            quantile = float(text[1:])
            if 0 < quantile < 1:
                return ("quantile", quantile)
        else:
            value = float(text)
            if math.isfinite(value):
                return ("score", value)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(
        f"expected an anomaly score (e.g. 0.25) or a quantile qP with 0 < P < 1 "
        f"(e.g. q0.95), got {text!r}"
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _contamination_option(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 0.5:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 0.5], got {text!r}")
    return value


def _add_reading_flags(parser) -> None:
    """``--quiet`` and the class flags of the commands that read an image folder."""
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--normal-class",
        action="append",
        metavar="NAME",
        help="class folder of normal images (repeatable); every other folder is anomalous. "
        "Default rule: names with good/ok/normal/nominal/pass are normal, unless they also "
        "say no/not/ng/bad/defect/anomaly...",
    )
    parser.add_argument(
        "--anomalous-class",
        action="append",
        metavar="NAME",
        help="class folder of anomalous images (repeatable); every other folder is normal",
    )


def _add_demo(demo) -> None:
    demo.add_argument(
        "--output",
        default="skanomaly-demo",
        help="folder for the pictures (default: skanomaly-demo in the working directory)",
    )
    add_flag(
        demo,
        "n_epochs",
        default="auto",
        help="training epochs (default: auto, the detectors' own choice)",
    )
    demo.add_argument("--digit", type=int, default=0, choices=range(10), help="the normal digit")
    demo.add_argument(
        "--detectors", nargs="+", choices=sorted(DETECTOR_NAMES), help="default: all"
    )
    add_flag(demo, "n_filters", default=32, help="conv width (default: 32; the detectors' 64)")
    add_flag(demo, "batch_size", default=32, help="default: 32; the detectors' 64")
    demo.add_argument("--n-images", type=int, default=6, help="images per end of the ranking")
    add_flag(demo, "random_state")
    add_flag(demo, "device")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_train(train) -> None:
    train.add_argument("data_dir", metavar="DATA_DIR")
    train.add_argument("--detector", required=True, choices=sorted(DETECTOR_NAMES))
    train.add_argument("--output", required=True, metavar="MODEL", help="model file to write")
    add_flag(train, "n_epochs")
    train.add_argument(
        "--image-size", type=_image_size, metavar="S|HxW", help="resize images (default: keep)"
    )
    train.add_argument(
        "--color",
        choices=["auto", "grey", "rgb"],
        default="auto",
        help="channels: auto = grey when every image is grey",
    )
    for name in ("batch_size", "n_filters", "latent_dim", "contamination", "learning_rate"):
        add_flag(train, name)
    options = train.add_argument_group("detector options")
    for name in ("latent_steps", "anomaly_score", "disc_score"):
        add_flag(options, name)
    stopping = train.add_argument_group(
        "early stopping",
        "Hold out part of the training images, watch a label-free loss on them each epoch "
        "and keep the best weights; --epochs is then the most epochs.",
    )
    for name in ("early_stopping", "validation_fraction", "n_iter_no_change"):
        add_flag(stopping, name)
    add_flag(train, "random_state")
    add_flag(train, "device")
    train.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="processes that read and decode images ahead of the training steps (default: 0, "
        "read between steps); images are read from disk batch by batch either way",
    )
    _add_reading_flags(train)


def _add_score(score) -> None:
    score.add_argument("model", metavar="MODEL")
    score.add_argument("data_dir", metavar="DATA_DIR")
    score.add_argument("--output", required=True, metavar="REPORT_DIR")
    score.add_argument("--top-k", type=int, default=12, help="images in the pictures")
    limit = score.add_mutually_exclusive_group()
    limit.add_argument(
        "--threshold",
        type=_threshold_option,
        metavar="T|qP",
        help="flag images whose anomaly score is above T (a score, e.g. 0.25), or above "
        "the quantile P of the training images' scores (qP, e.g. q0.95 flags about 5%% of "
        "normal images); default: the model's threshold",
    )
    limit.add_argument(
        "--contamination",
        type=_contamination_option,
        metavar="C",
        help="expected share of anomalies in (0, 0.5]: the same as --threshold q(1-C)",
    )
    score.add_argument(
        "--maps",
        action="store_true",
        help="write one heat-map PNG per image, REPORT_DIR/maps/<path under DATA_DIR/test>.png "
        "(x.jpg -> x.jpg.png), and their colour scale, REPORT_DIR/maps_colour_scale.png",
    )
    score.add_argument(
        "--device", help="auto, cpu, cuda, ... (default: the model's when available)"
    )
    score.add_argument(
        "--batch-size",
        type=_positive_int,
        default=64,
        help="images per scoring step: memory and progress (default 64); no effect on scores",
    )
    _add_reading_flags(score)


def _add_export(export) -> None:
    export.add_argument("model", metavar="MODEL")
    export.add_argument("output", metavar="OUT.onnx")
    export.add_argument(
        "--opset", type=int, help="ONNX opset, 18 or later (default: the exporter's)"
    )


# Each command: what adds its arguments, its one-line help, its --help description.
_COMMANDS = {
    "demo": (
        _add_demo,
        "train the detectors on embedded digits and report ROC-AUC",
        "Train the detectors on one digit of scikit-learn's 8x8 digits (the others "
        "are the anomalies), print a ROC-AUC table and write pictures of the most and least "
        "anomalous test images. The detectors keep their Python defaults (epochs: 'auto', "
        "each detector's own budget of optimiser steps) except for two settings of the "
        "demo's own, for speed on tiny images on a CPU: --n-filters 32 and --batch-size 32 "
        "(the defaults: 64 and 64). About a minute in all on two idle CPU cores.",
    ),
    "train": (
        _add_train,
        "train a detector on an image folder",
        "Train a detector on the images of DATA_DIR/train (or of DATA_DIR when it "
        "has no train/ folder) and save it in skanomaly's safe weights-only format "
        "(skanomaly.save). Images sit in class folders (e.g. train/0.normal/) or directly "
        "in the folder. Options left out keep the detector's Python defaults; only --seed "
        "(default 0) differs, so that runs repeat.",
    ),
    "score": (
        _add_score,
        "score an image folder with a trained model",
        "Score the images of DATA_DIR/test (or of DATA_DIR when it has no test/ "
        "folder); images of another size than the model's are resized to it. Writes "
        "REPORT_DIR/scores.csv (path, anomaly_score, predicted_anomaly, true_anomaly) and "
        "REPORT_DIR/metrics.json. When the class folders give labels: ROC-AUC, average "
        "precision, and what the threshold does (precision, recall, F1 and the confusion "
        "counts); when DATA_DIR/ground_truth/<defect>/<name>_mask.png holds defect masks (the "
        "MVTec AD layout): pixel ROC-AUC and AUPRO (to 30%% false-positive rate). Pictures of "
        "the most anomalous images (with the masks' outlines), a score histogram and the "
        "training losses; REPORT_DIR/run.json records the command, versions, model, metrics "
        "and the files written. Every file is written whole (through a temporary file) with "
        "the usual permissions, and a report folder in use by another run is refused. Model "
        "files hold weights and numbers only: loading one runs no code.",
    ),
    "export": (
        _add_export,
        "export a trained model to ONNX",
        "Write MODEL (a GANomaly or EGBAD model file) as an ONNX graph that takes "
        "raw float32 input, scales it inside and returns the anomaly score (higher = more "
        "abnormal) and the anomaly map, for any batch size. Needs onnx and onnxscript (the "
        "'export' extra of skanomaly). AnoGAN models cannot be exported: their score is a "
        "search, not a forward pass.",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``skanomaly`` command."""
    parser = argparse.ArgumentParser(
        prog="skanomaly",
        description="GAN-based anomaly detection (AnoGAN, EGBAD, GANomaly) on image folders.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument(
        "--traceback", action="store_true", help="show tracebacks instead of one-line errors"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (add_arguments, summary, description) in _COMMANDS.items():
        add_arguments(commands.add_parser(name, help=summary, description=description))
    return parser


def main(argv=None) -> int:
    """Run the ``skanomaly`` command; returns the exit status.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments without the program name; ``None`` = ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success, 1 on a user error (reported in one line on stderr).
    """
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded with the outputs
    try:
        # skanomaly.cli._train for "train"...: imported now, not for --help.
        command = importlib.import_module(f"{__package__}._{args.command}")
        return command.run(args)
    except (CommandError, OSError, ValueError) as exc:
        # OSError covers missing folders / files; ValueError bad images and parameters.
        if args.traceback:
            raise
        message = " ".join(str(exc).split())
        print(f"skanomaly: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("skanomaly: interrupted", file=sys.stderr)
        return 130
