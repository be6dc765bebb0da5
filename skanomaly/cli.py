"""The ``skanomaly`` console command.

``skanomaly demo``
    Trains the detectors on one digit of scikit-learn's embedded 8x8 digits,
    prints a ROC-AUC table and writes pictures of the most and least
    anomalous test images.
``skanomaly train DATA_DIR --detector NAME --output MODEL``
    Trains a detector on the images of ``DATA_DIR/train`` and saves it.
``skanomaly score MODEL DATA_DIR --output REPORT_DIR``
    Scores the images of ``DATA_DIR/test``: a CSV of scores, ROC-AUC and
    average precision when the folders give labels, and pictures.

The folder layout and the labelling rule are those of
:func:`skanomaly.datasets.load_image_folder`. User errors (a missing or
empty folder, an unreadable image, a file that is not a skanomaly model,
images of the wrong size) end the command with one line on stderr and exit
status 1; ``--traceback`` shows the full Python traceback instead.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

import skanomaly

from .datasets import load_image_folder, one_class_split

__all__ = ["DETECTORS", "main"]

# Command-line name -> detector class, for the detectors this version ships.
DETECTORS = {
    name: getattr(skanomaly, class_name)
    for name, class_name in (
        ("anogan", "AnoGANDetector"),
        ("egbad", "EGBADDetector"),
        ("ganomaly", "GANomalyDetector"),
    )
    if hasattr(skanomaly, class_name)
}

# Marks the files written by ``skanomaly train``.
MODEL_FORMAT = "skanomaly-image-model"


class CommandError(Exception):
    """A user error, reported as one line without a traceback."""


# ----------------------------------------------------------------------
# Model files
# ----------------------------------------------------------------------
def save_model(path, detector, *, image_size, grayscale, train_dir) -> None:
    """Save a detector, with the image preprocessing ``score`` must repeat.

    The file is skanomaly's safe weights-only format (:func:`skanomaly.save`):
    model files can be shared and opened without running code from them.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {
        "format": MODEL_FORMAT,
        "image_size": image_size,
        "grayscale": grayscale,
        "train_dir": str(train_dir),
    }
    skanomaly.save(detector, path, metadata=metadata)


def load_model(path) -> dict:
    """Read a file written by :func:`save_model` (or by :func:`skanomaly.save`)."""
    from .persistence import read_metadata

    path = Path(path)
    if not path.is_file():
        raise CommandError(f"model file {path} does not exist")
    try:
        metadata = read_metadata(path)
        detector = skanomaly.load(path)
    except ValueError as exc:
        raise CommandError(f"{path} is not a skanomaly model file: {exc}") from exc
    if metadata.get("format") != MODEL_FORMAT:  # a detector saved from Python
        metadata = {"image_size": None, "grayscale": None}
    if isinstance(metadata.get("image_size"), list):  # JSON has no tuples
        metadata["image_size"] = tuple(metadata["image_size"])
    if not hasattr(detector, "offset_"):
        raise CommandError(f"{path} holds a detector that was never fitted")
    if getattr(detector, "image_shape_", None) is None:
        raise CommandError(f"{path} holds a detector fitted on tabular data, not images")
    return {**metadata, "detector": detector}


# ----------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------
def _split_folder(data_dir, split: str) -> Path:
    """``DATA_DIR/<split>`` when it exists, else ``DATA_DIR`` itself."""
    root = Path(data_dir)
    if not root.exists():
        raise CommandError(f"folder {root} does not exist")
    if not root.is_dir():
        raise CommandError(f"{root} is not a folder")
    return root / split if (root / split).is_dir() else root


def _image_size(value: str):
    """``S`` or ``HxW`` -> ``S`` or ``(H, W)``."""
    try:
        parts = [int(v) for v in value.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts) < 8:
        raise argparse.ArgumentTypeError(f"expected S or HxW with sides >= 8, got {value!r}")
    return parts[0] if len(parts) == 1 else tuple(parts)


def _auc_ap(y, anomaly_scores):
    from sklearn.metrics import average_precision_score, roc_auc_score

    return roc_auc_score(y, anomaly_scores), average_precision_score(y, anomaly_scores)


def _shape_text(shape) -> str:
    return "x".join(str(s) for s in shape)


# ----------------------------------------------------------------------
# skanomaly train
# ----------------------------------------------------------------------
def _train(args) -> int:
    folder = _split_folder(args.data_dir, "train")
    grayscale = {"grey": True, "rgb": False, "auto": None}[args.color]
    data = load_image_folder(folder, image_size=args.image_size, grayscale=grayscale)
    images = data.images
    if len(images) < 2:
        raise CommandError(f"{folder} holds {len(images)} image; training needs at least 2")
    if data.target is not None and data.target.any():
        print(
            f"note: {int(data.target.sum())} of the {len(images)} training images are in "
            "folders named as anomalous; they are trained on like the others.",
            file=sys.stderr,
        )
    params = {
        "n_epochs": args.epochs,
        "batch_size": args.batch_size,
        "n_filters": args.n_filters,
        "contamination": args.contamination,
        "device": args.device,
        "random_state": args.seed,
        "verbose": 0 if args.quiet else 1,
    }
    if args.latent_dim is not None:
        params["latent_dim"] = args.latent_dim
    detector = DETECTORS[args.detector](**params)
    print(
        f"Training {type(detector).__name__} on {len(images)} images "
        f"({_shape_text(images.shape[1:])}) from {folder}"
    )
    start = time.perf_counter()
    detector.fit(images)
    elapsed = time.perf_counter() - start
    save_model(
        args.output,
        detector,
        image_size=args.image_size,
        grayscale=images.shape[1] == 1,
        train_dir=folder,
    )
    print(
        f"Trained {detector.n_epochs_} epochs in {elapsed:.1f} s; saved the model: {args.output}"
    )
    return 0


# ----------------------------------------------------------------------
# skanomaly score
# ----------------------------------------------------------------------
def _score(args) -> int:
    from .plot import plot_history, plot_reconstructions, plot_score_histogram, reconstruction_grid

    model = load_model(args.model)
    detector = model["detector"]
    channels, height, width = detector.image_shape_
    folder = _split_folder(args.data_dir, "test")
    data = load_image_folder(folder, image_size=model["image_size"], grayscale=channels == 1)
    if data.images.shape[1:] != tuple(detector.image_shape_):
        raise CommandError(
            f"image size mismatch: the images in {folder} are "
            f"{_shape_text(data.images.shape[2:])} but the model was trained on "
            f"{height}x{width} images; resize them, or train with --image-size {height}x{width}"
        )
    start = time.perf_counter()
    normality = detector.score_samples(data.images)
    anomaly_scores = -normality
    # predict()'s rule, without scoring twice (AnoGAN's latent search is slow)
    flagged = normality - detector.offset_ < 0
    elapsed = time.perf_counter() - start

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    csv_path = output / "scores.csv"
    with open(csv_path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "anomaly_score", "predicted_anomaly", "true_anomaly"])
        for i, path in enumerate(data.paths):
            true = "" if data.target is None else int(data.target[i])
            writer.writerow([path, f"{anomaly_scores[i]:.6g}", int(flagged[i]), true])

    print(
        f"Scored {len(anomaly_scores)} images from {folder} in {elapsed:.1f} s: "
        f"{int(flagged.sum())} flagged as anomalous (anomaly score > {-detector.offset_:.4g})"
    )
    labels = data.target
    if labels is not None and 0 < labels.sum() < len(labels):
        auc, ap = _auc_ap(labels, anomaly_scores)
        print(f"ROC-AUC {auc:.4f}   average precision {ap:.4f}   (anomalies: {int(labels.sum())})")
    elif labels is not None:
        print("ROC-AUC not computed: the folders hold only one class.")

    top = np.argsort(-anomaly_scores, kind="stable")[: args.top_k]
    titles = [f"{anomaly_scores[i]:.3g}" for i in top]
    if labels is not None:
        titles = [
            f"{t}\n{'anomaly' if labels[i] else 'normal'}"
            for t, i in zip(titles, top, strict=True)
        ]
    written = [csv_path]
    fig = plot_reconstructions(detector, data.images[top], titles=titles)
    fig.suptitle(f"The {len(top)} most anomalous images: input, reconstruction, anomaly map")
    written.append(output / "top_anomalies.png")
    fig.savefig(written[-1], dpi=100)
    written.append(output / "top_anomalies_grid.png")
    reconstruction_grid(detector, data.images[top], written[-1])
    fig = plot_score_histogram(anomaly_scores, labels, threshold=-detector.offset_)
    written.append(output / "score_histogram.png")
    fig.savefig(written[-1], dpi=100)
    if getattr(detector, "history_", None):
        written.append(output / "training_history.png")
        plot_history(detector).savefig(written[-1], dpi=100)
    print("Wrote " + ", ".join(str(p) for p in written))
    return 0


# ----------------------------------------------------------------------
# skanomaly demo
# ----------------------------------------------------------------------
def _demo(args) -> int:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from .plot import plot_reconstructions

    names = args.detectors or list(DETECTORS)
    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 1, 8, 8)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.5, stratify=y, random_state=args.seed
    )
    X_fit, X_eval, y_eval = one_class_split(X_train, y_train, X_test, y_test, args.digit)
    print(
        f"sklearn digits (8x8): training on {len(X_fit)} images of the digit {args.digit}; "
        f"testing on {len(X_eval)} held-out images, {int(y_eval.sum())} of other digits "
        "(anomalies)."
    )
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        detector = DETECTORS[name](
            n_epochs=args.epochs,
            batch_size=32,
            n_filters=args.n_filters,
            random_state=args.seed,
            device=args.device,
            verbose=0 if args.quiet else 1,
        )
        start = time.perf_counter()
        detector.fit(X_fit)
        fit_time = time.perf_counter() - start
        scores = -detector.score_samples(X_eval)
        auc, ap = _auc_ap(y_eval, scores)
        rows.append((type(detector).__name__, auc, ap, fit_time))

        # The k most and k least anomalous test images, side by side.
        order = np.argsort(-scores, kind="stable")
        k = args.n_images
        shown = np.r_[order[:k], order[-k:]]
        titles = [
            f"{'most' if j < k else 'least'}\n'{y_test[i]}' {scores[i]:.2g}"
            for j, i in enumerate(shown)
        ]
        fig = plot_reconstructions(detector, X_eval[shown], titles=titles)
        fig.suptitle(
            f"{type(detector).__name__} trained on '{args.digit}': the {k} most and {k} least "
            "anomalous test digits"
        )
        fig.savefig(output / f"demo_{name}.png", dpi=100)

    print(f"\n{'detector':<18}{'ROC-AUC':>9}{'AP':>8}{'fit (s)':>9}")
    for detector_name, auc, ap, fit_time in rows:
        print(f"{detector_name:<18}{auc:>9.3f}{ap:>8.3f}{fit_time:>9.1f}")
    print(f"\nPictures: {', '.join(str(output / f'demo_{n}.png') for n in names)}")
    return 0


# ----------------------------------------------------------------------
# skanomaly export
# ----------------------------------------------------------------------
def _export(args) -> int:
    from .export import export_onnx
    from .persistence import read_metadata

    path = Path(args.model)
    if not path.is_file():
        raise CommandError(f"model file {path} does not exist")
    try:
        metadata = read_metadata(path)
        detector = skanomaly.load(path)
    except ValueError as exc:
        raise CommandError(f"{path} is not a skanomaly model file: {exc}") from exc
    try:
        written = export_onnx(detector, args.output, opset=args.opset)
    except ImportError as exc:  # the optional extra is missing: say how to get it
        raise CommandError(str(exc)) from exc
    shape = detector.image_shape_ or (detector.n_features_in_,)
    print(
        f"Exported {type(detector).__name__} to {written}: input 'X', float32 of shape "
        f"(n, {', '.join(str(s) for s in shape)}); outputs 'anomaly_score' (n,) and "
        f"'anomaly_map' (shape of X); outlier when anomaly_score > {-detector.offset_:.6g}"
    )
    if metadata.get("format") == MODEL_FORMAT:
        print(
            "Feed it images as skanomaly train read them: values in [0, 1], "
            f"{'grey' if shape[0] == 1 else 'RGB'}, {_shape_text(shape[1:])} pixels."
        )
    return 0


# ----------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``skanomaly`` command."""
    parser = argparse.ArgumentParser(
        prog="skanomaly",
        description="GAN-based anomaly detection (AnoGAN, EGBAD, GANomaly) on image folders.",
    )
    parser.add_argument("--version", action="version", version=skanomaly.__version__)
    parser.add_argument(
        "--traceback", action="store_true", help="show tracebacks instead of one-line errors"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    names = sorted(DETECTORS)

    demo = commands.add_parser(
        "demo",
        help="train the detectors on embedded digits and report ROC-AUC",
        description="Train the detectors on one digit of scikit-learn's 8x8 digits (the others "
        "are the anomalies), print a ROC-AUC table and write pictures of the most and least "
        "anomalous test images. About a minute per detector on two idle CPU cores.",
    )
    demo.add_argument("--output", default="skanomaly-demo", help="folder for the pictures")
    demo.add_argument("--epochs", type=int, default=60, help="training epochs (default 60)")
    demo.add_argument("--digit", type=int, default=0, choices=range(10), help="the normal digit")
    demo.add_argument("--detectors", nargs="+", choices=names, help="default: all")
    demo.add_argument("--n-filters", type=int, default=32, help="conv width (default 32)")
    demo.add_argument("--n-images", type=int, default=6, help="images per end of the ranking")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--device", default="auto")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(func=_demo)

    train = commands.add_parser(
        "train",
        help="train a detector on an image folder",
        description="Train a detector on the images of DATA_DIR/train (or of DATA_DIR when it "
        "has no train/ folder) and save it in skanomaly's safe weights-only format "
        "(skanomaly.save). Images sit in class folders (e.g. train/0.normal/) or directly "
        "in the folder.",
    )
    train.add_argument("data_dir", metavar="DATA_DIR")
    train.add_argument("--detector", required=True, choices=names)
    train.add_argument("--output", required=True, metavar="MODEL", help="model file to write")
    train.add_argument("--epochs", type=int, default=15, help="training epochs (default 15)")
    train.add_argument(
        "--image-size", type=_image_size, metavar="S|HxW", help="resize images (default: keep)"
    )
    train.add_argument(
        "--color",
        choices=["auto", "grey", "rgb"],
        default="auto",
        help="channels: auto = grey when every image is grey",
    )
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--n-filters", type=int, default=64, help="conv width (default 64)")
    train.add_argument("--latent-dim", type=int, help="default: chosen from the image size")
    train.add_argument("--contamination", type=float, default=0.1, help="sets the threshold")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_train)

    score = commands.add_parser(
        "score",
        help="score an image folder with a trained model",
        description="Score the images of DATA_DIR/test (or of DATA_DIR when it has no test/ "
        "folder). Writes REPORT_DIR/scores.csv (path, anomaly_score, predicted_anomaly, "
        "true_anomaly), prints ROC-AUC and average precision when the class folders give "
        "labels, and writes pictures of the most anomalous images, a score histogram and the "
        "training losses. Model files hold weights and numbers only: loading one runs no code.",
    )
    score.add_argument("model", metavar="MODEL")
    score.add_argument("data_dir", metavar="DATA_DIR")
    score.add_argument("--output", required=True, metavar="REPORT_DIR")
    score.add_argument("--top-k", type=int, default=12, help="images in the pictures")
    score.set_defaults(func=_score)

    export = commands.add_parser(
        "export",
        help="export a trained model to ONNX",
        description="Write MODEL (a GANomaly or EGBAD model file) as an ONNX graph that takes "
        "raw float32 input, scales it inside and returns the anomaly score (higher = more "
        "abnormal) and the anomaly map, for any batch size. Needs onnx and onnxscript (the "
        "'export' extra of skanomaly). AnoGAN models cannot be exported: their score is a "
        "search, not a forward pass.",
    )
    export.add_argument("model", metavar="MODEL")
    export.add_argument("output", metavar="OUT.onnx")
    export.add_argument(
        "--opset", type=int, help="ONNX opset, 18 or later (default: the exporter's)"
    )
    export.set_defaults(func=_export)
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
    try:
        return args.func(args)
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


if __name__ == "__main__":
    sys.exit(main())
