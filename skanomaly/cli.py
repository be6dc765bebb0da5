"""The ``skanomaly`` console command.

``skanomaly demo``
    Trains the detectors on one digit of scikit-learn's embedded 8x8 digits,
    prints a ROC-AUC table and writes pictures of the most and least
    anomalous test images.
``skanomaly train DATA_DIR --detector NAME --output MODEL``
    Trains a detector on the images of ``DATA_DIR/train`` and saves it;
    options left out keep the detector's Python defaults.
``skanomaly score MODEL DATA_DIR --output REPORT_DIR``
    Scores the images of ``DATA_DIR/test`` (resized to the model's size
    where they differ): a CSV of scores; ROC-AUC, average precision and
    precision, recall and F1 at the threshold when the folders give labels;
    pixel ROC-AUC and AUPRO when ``DATA_DIR/ground_truth`` holds defect
    masks (the MVTec AD layout); and pictures.

Every run records what produced it: ``train`` in the model file's
metadata (``skanomaly.persistence.read_metadata(MODEL)["run"]``), ``score``
in ``REPORT_DIR/run.json`` (command line, versions, the model's file hash
and parameters, the threshold, the metrics and the files written). Report
files are written whole, through a temporary file, with the permissions
the umask gives; a report folder that another ``score`` run is writing is
refused.

The folder layout and the labelling rule are those of
:func:`skanomaly.datasets.load_image_folder`. User errors (a missing or
empty folder, an unreadable image, a file that is not a skanomaly model,
swapped arguments) end the command with one line on stderr and exit
status 1; ``--traceback`` shows the full Python traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import errno
import hashlib
import json
import os
import re
import secrets
import sys
import tempfile
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ._version import __version__

# torch, scikit-learn and the detectors are imported inside the commands
# that use them: ``skanomaly --help`` and every ``--help`` answer at once.

__all__ = ["DETECTORS", "main"]

# Command-line name -> detector class name, for the detectors this version ships.
DETECTOR_NAMES = {
    "anogan": "AnoGANDetector",
    "egbad": "EGBADDetector",
    "ganomaly": "GANomalyDetector",
}


def _detector_class(name: str):
    from . import detectors

    return getattr(detectors, DETECTOR_NAMES[name])


class _Detectors(Mapping):
    """Command-line name -> detector class; the detectors are imported at the first look-up."""

    def __getitem__(self, name):
        return _detector_class(name)

    def __iter__(self):
        return iter(DETECTOR_NAMES)

    def __len__(self):
        return len(DETECTOR_NAMES)


#: The ``--detector`` names and their classes (a read-only mapping that
#: imports the detectors at the first look-up).
DETECTORS = _Detectors()

# Marks the files written by ``skanomaly train``.
MODEL_FORMAT = "skanomaly-image-model"


class CommandError(Exception):
    """A user error, reported as one line without a traceback."""


# ----------------------------------------------------------------------
# Model files
# ----------------------------------------------------------------------
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
    from .persistence import save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {
        "format": MODEL_FORMAT,
        "image_size": image_size,
        "grayscale": grayscale,
        "train_dir": str(train_dir),
    }
    if run is not None:
        metadata["run"] = run
    if training_scores is not None:
        metadata["training_anomaly_scores"] = [float(v) for v in training_scores]
    save(detector, path, metadata=metadata)


def _read_model_file(path: Path, device=None):
    """``(metadata, detector)`` of a model file, every failure as one ``CommandError`` line."""
    from .persistence import load, read_metadata

    if path.is_dir():
        raise CommandError(f"MODEL {path} is a folder, not a model file")
    if not path.is_file():
        raise CommandError(f"model file {path} does not exist")
    try:
        return read_metadata(path), load(path, device=device)
    except ValueError as exc:
        message = " ".join(str(exc).split())
        # The reader's messages often name the file already: say it once.
        if str(path) not in message:
            message = f"{path}: {message}"
        raise CommandError(message) from exc


def load_model(path, device=None) -> dict:
    """Read a file written by :func:`save_model` (or by :func:`skanomaly.save`).

    ``device`` is passed to :func:`skanomaly.load`: ``None`` = the device the
    model was trained on when this machine has it.
    """
    path = Path(path)
    metadata, detector = _read_model_file(path, device)
    if metadata.get("format") != MODEL_FORMAT:  # a detector saved from Python
        metadata = {"image_size": None, "grayscale": None}
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
    from ._limits import MAX_IMAGE_SIDE

    try:
        parts = [int(v) for v in value.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts) < 8 or max(parts) > MAX_IMAGE_SIDE:
        raise argparse.ArgumentTypeError(
            f"expected S or HxW with sides from 8 to {MAX_IMAGE_SIDE}, got {value!r}"
        )
    return parts[0] if len(parts) == 1 else tuple(parts)


def _check_flags(args, **rules) -> None:
    """Refuse out-of-range flag values before any work, naming the flag."""
    for name, (low, high) in rules.items():
        value = getattr(args, name, None)
        if value is None or isinstance(value, str):  # unset, or "auto"
            continue
        if not (low <= value if high is None else low <= value <= high):
            flag = "--" + name.replace("_", "-")
            bound = f"at least {low}" if high is None else f"in [{low}, {high}]"
            raise CommandError(f"{flag} must be {bound}, got {value}")


def _check_writable_folder(folder: Path, what: str) -> None:
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


def _check_model_output(path: Path) -> None:
    if path.is_dir():
        raise CommandError(f"--output {path} is a folder; give the model file's name")
    _check_writable_folder(path.parent, "model file")


def _class_names(args) -> dict:
    return {"normal_class": args.normal_class, "anomalous_class": args.anomalous_class}


@contextlib.contextmanager
def _report_file(path: Path, mode: str = "w"):
    """Open ``path`` for writing through a temporary file, renamed into place at the end.

    Readers, and a run that fails half-way, see the old file or the new
    one, never half of one. The temporary file is created as ``open``
    creates files (mode 0o666 less the umask), so every report file gets
    the user's usual permissions (``tempfile`` would make it 0600). Text is
    UTF-8; file names that are not UTF-8 stay readable (backslash escapes).
    """
    options = {} if "b" in mode else {"encoding": "utf-8", "errors": "backslashreplace"}
    if path.suffix == ".csv":
        options["newline"] = ""  # the csv module writes its own line ends
    while True:
        # Short and hidden: beside a long map name it stays within NAME_MAX.
        temporary = path.with_name(f".skanomaly-{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with open(fd, mode, **options) as handle:
            yield handle
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _save_figure(fig, path: Path) -> Path:
    with _report_file(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=100)
    return path


def _write_json(path: Path, value) -> Path:
    with _report_file(path) as handle:
        json.dump(value, handle, indent=2)
    return path


@contextlib.contextmanager
def _report_lock(folder: Path):
    """Hold the report folder for one ``score`` run; refuse one in use, in one line.

    Two runs into one folder would mix their files (a ``run.json`` of one
    run beside the ``metrics.json`` of the other). The lock is the
    operating system's (``flock`` on the folder itself; a lock file on
    Windows): it ends with the process, so a killed run leaves nothing stale.
    """
    busy = CommandError(
        f"--output {folder} is in use by another skanomaly score run; "
        "wait for it to finish or choose another --output"
    )
    if os.name == "nt":
        import msvcrt

        handle = open(folder / ".skanomaly-score.lock", "a+b")  # noqa: SIM115 - closed below
        try:
            try:
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            except OSError:
                raise busy from None
            yield
        finally:
            handle.close()
        return
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy from None
        yield
    finally:
        os.close(fd)  # releases the lock


def _check_device(device: str) -> None:
    from ._runtime import resolve_device

    try:
        resolve_device(device)
    except ValueError as exc:
        raise CommandError(f"--device: {exc}") from None


def _auc_ap(y, anomaly_scores):
    from sklearn.metrics import average_precision_score, roc_auc_score

    return roc_auc_score(y, anomaly_scores), average_precision_score(y, anomaly_scores)


def _shape_text(shape) -> str:
    return "x".join(str(s) for s in shape)


# Detector parameter -> the flag that sets it, so that errors name the flag.
PARAMETER_FLAGS = {
    "n_epochs": "--epochs",
    "batch_size": "--batch-size",
    "n_filters": "--n-filters",
    "latent_dim": "--latent-dim",
    "contamination": "--contamination",
    "learning_rate": "--learning-rate",
    "device": "--device",
    "random_state": "--seed",
    "latent_steps": "--latent-steps",
    "anomaly_score": "--anomaly-score",
    "disc_score": "--disc-score",
    "early_stopping": "--early-stopping",
    "validation_fraction": "--validation-fraction",
    "n_iter_no_change": "--n-iter-no-change",
}


def _with_flag_names(message: str) -> str:
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


def _detector_from_args(args):
    """The detector ``train`` asks for, its parameters checked before any image is read.

    Options left out keep the detector's own defaults, as in Python; only
    ``--seed`` (0, so that runs repeat) and the progress bar differ.
    """
    from ._runtime import resolve_device

    cls = _detector_class(args.detector)
    params = {"random_state": args.seed, "verbose": 0 if args.quiet else 1}
    shared = {
        "n_epochs": args.epochs,
        "batch_size": args.batch_size,
        "n_filters": args.n_filters,
        "contamination": args.contamination,
        "device": args.device,
        "latent_dim": args.latent_dim,
        "learning_rate": args.learning_rate,
    }
    params.update({name: value for name, value in shared.items() if value is not None})
    specific = {
        "latent_steps": args.latent_steps,
        "anomaly_score": args.anomaly_score,
        "disc_score": args.disc_score,
        "validation_fraction": args.validation_fraction,
        "n_iter_no_change": args.n_iter_no_change,
    }
    for name, value in specific.items():
        if value is None:
            continue
        if name not in cls._get_param_names():
            owners = [n for n in DETECTOR_NAMES if name in _detector_class(n)._get_param_names()]
            raise CommandError(
                f"{PARAMETER_FLAGS[name]} applies to --detector {' or '.join(owners)}, "
                f"not {args.detector}"
            )
        params[name] = value
    early = ("validation_fraction", "n_iter_no_change")
    if not args.early_stopping and any(specific[name] is not None for name in early):
        raise CommandError("--validation-fraction and --n-iter-no-change need --early-stopping")
    if args.early_stopping:
        params["early_stopping"] = True
    detector = cls(**params)
    try:
        detector.check_params()
        resolve_device(detector.device)
    except ValueError as exc:  # sklearn's InvalidParameterError is a ValueError
        raise CommandError(_with_flag_names(str(exc))) from exc
    return detector


def _provenance(args) -> dict:
    """What produced a run: the command line, the versions, the time."""
    from ._runtime import library_versions

    return {
        "command": ["skanomaly", *args.argv],
        "versions": library_versions(),
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _json_ready(value):
    """Parameters and metrics as plain JSON (numpy numbers and tuples included)."""
    return json.loads(
        json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v))
    )


# ----------------------------------------------------------------------
# skanomaly train
# ----------------------------------------------------------------------
def _train(args) -> int:
    from .datasets import ImageFolderDataset, fit_folder

    _check_flags(
        args,
        epochs=(1, None),
        batch_size=(2, None),
        n_filters=(1, 4096),
        latent_dim=(1, 8192),
        contamination=(1e-9, 0.5),
        workers=(0, 64),
    )
    _check_device(args.device)
    _check_model_output(Path(args.output))  # before training, not after
    detector = _detector_from_args(args)
    folder = _split_folder(args.data_dir, "train")
    grayscale = {"grey": True, "rgb": False, "auto": None}[args.color]
    # Read from disk batch by batch: memory does not grow with the number of images.
    images = ImageFolderDataset(
        folder, image_size=args.image_size, grayscale=grayscale, **_class_names(args)
    )
    if len(images) < 2:
        raise CommandError(f"{folder} holds {len(images)} image; training needs at least 2")
    if images.target is not None and images.target.any():
        print(
            f"note: {int(images.target.sum())} of the {len(images)} training images are in "
            "folders named as anomalous; they are trained on like the others.",
            file=sys.stderr,
        )
    shape, _, _ = images.scan(args.workers)
    print(
        f"Training {type(detector).__name__} on {len(images)} images "
        f"({_shape_text(shape)}) from {folder}"
    )
    start = time.perf_counter()
    try:
        fit_folder(detector, images, num_workers=args.workers)
        training_scores = detector.decision_scores_
    except ValueError as exc:
        raise ValueError(_with_flag_names(str(exc))) from exc
    elapsed = time.perf_counter() - start
    run = _provenance(args)
    run["detector"] = type(detector).__name__
    run["parameters"] = _json_ready(detector.get_params())
    run["metrics"] = {
        "n_images": len(images),
        "image_shape": list(shape),
        "n_epochs": int(detector.n_epochs_),
        "fit_seconds": round(elapsed, 3),
        # JSON has no NaN: a loss that is not finite is recorded as null.
        "final_losses": {
            k: float(v[-1]) if np.isfinite(v[-1]) else None
            for k, v in detector.history_.items()
            if len(v)
        },
    }
    save_model(
        args.output,
        detector,
        image_size=args.image_size,
        grayscale=shape[0] == 1,
        train_dir=folder,
        run=run,
        training_scores=training_scores,
    )
    print(
        f"Trained {detector.n_epochs_} epochs in {elapsed:.1f} s; saved the model: {args.output}"
    )
    return 0


# ----------------------------------------------------------------------
# skanomaly score
# ----------------------------------------------------------------------
def _threshold_option(text: str):
    """``--threshold``: an anomaly score, or ``qP`` for the quantile ``P`` in (0, 1)."""
    try:
        if text.lower().startswith("q"):
            quantile = float(text[1:])
            if 0 < quantile < 1:
                return ("quantile", quantile)
        else:
            value = float(text)
            if np.isfinite(value):
                return ("score", value)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(
        f"expected an anomaly score (e.g. 0.25) or a quantile qP with 0 < P < 1 "
        f"(e.g. q0.95), got {text!r}"
    )


def _epochs(text: str):
    """``--epochs``: a number, or ``auto`` (the detector's own choice)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or auto, got {text!r}") from None


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
        value = np.nan
    if not 0 < value <= 0.5:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 0.5], got {text!r}")
    return value


def _threshold(args, model, anomaly_scores) -> tuple[float, str]:
    """The anomaly score above which an image is flagged, and where it comes from.

    Quantiles (``--threshold qP``, ``--contamination C`` = ``q(1 - C)``) are
    of the training images' scores, as the model's own threshold is; a
    model file without them (saved from Python) falls back to the scored
    images' scores.
    """
    detector = model["detector"]
    if args.threshold is None and args.contamination is None:
        return -detector.offset_, f"the model's (contamination {detector.contamination})"
    if args.threshold is not None and args.threshold[0] == "score":
        return args.threshold[1], "--threshold"
    if args.threshold is not None:
        quantile, flag = args.threshold[1], f"--threshold q{args.threshold[1]:g}"
    else:
        quantile, flag = 1 - args.contamination, f"--contamination {args.contamination:g}"
    reference = model.get("training_anomaly_scores")
    source = "training"
    if not reference:
        reference, source = anomaly_scores, "scored"
    return float(
        np.percentile(reference, 100 * quantile)
    ), f"{flag}: quantile of the {source} images' scores"


def _score_images(detector, images, *, batch_size, quiet, with_maps):
    """Anomaly scores and channel-averaged anomaly maps, with a progress bar.

    Scores do not depend on which images are scored together, so scoring
    in steps of ``batch_size`` only paces the bar (AnoGAN's latent search
    takes a while) and bounds the memory.
    """
    from sklearn.utils import gen_batches
    from tqdm.auto import tqdm

    scores, maps = [], []
    with tqdm(
        total=len(images), desc="scoring", unit="image", disable=True if quiet else None
    ) as bar:
        for batch in gen_batches(len(images), batch_size):
            if with_maps:
                # One pass for both: AnoGAN's search runs once.
                batch_maps, batch_scores = detector.anomaly_map(images[batch], return_scores=True)
                anomaly_scores = -batch_scores
                scores.append(anomaly_scores)
                maps.append(batch_maps.mean(axis=1).astype(np.float32))
            else:
                scores.append(-detector.score_samples(images[batch]))
            bar.update(batch.stop - batch.start)
    return np.concatenate(scores), (np.concatenate(maps) if with_maps else None)


def _pixel_metrics(masks, maps) -> dict | None:
    """Pixel ROC-AUC and AUPRO, or None when the masks cannot give them."""
    from .metrics import aupro, pixel_roc_auc

    if masks is None or not masks.any() or masks.all():
        return None
    return {
        "roc_auc": pixel_roc_auc(masks, maps),
        "aupro": aupro(masks, maps, max_fpr=AUPRO_MAX_FPR),
        "aupro_max_fpr": AUPRO_MAX_FPR,
        "n_defect_pixels": int(masks.sum()),
        "n_images_with_masks": int(masks.any(axis=(1, 2)).sum()),
    }


# The integration limit of AUPRO reported by ``score`` (the MVTec AD paper's).
AUPRO_MAX_FPR = 0.3


def _map_file(target: Path, folder: Path, image_path: str) -> Path:
    """The map file of one image: ``maps/<path under folder>.png``.

    The image's whole name is kept, so ``x.png`` and ``x.jpg`` get
    ``x.png.png`` and ``x.jpg.png``: one map each.
    """
    relative = Path(image_path).relative_to(folder)
    return target / relative.parent / f"{relative.name}.png"


def _write_maps(folder, output, data, maps, batch_size) -> list[Path]:
    """One heat-map PNG per image (mask outlines included), and their colour scale."""
    import torch
    from torchvision.utils import save_image

    from .plot import colour_scale_figure, heatmap_pictures

    target = output / "maps"
    vmax = float(np.percentile(maps, 99)) or None  # one colour scale for every picture
    masks = data.get("masks")
    for batch in range(0, len(maps), batch_size):
        rows = slice(batch, batch + batch_size)
        pictures = heatmap_pictures(
            data.images[rows], maps[rows], None if masks is None else masks[rows], vmax=vmax
        )
        for path, picture in zip(data.paths[rows], pictures, strict=True):
            file = _map_file(target, folder, path)
            file.parent.mkdir(parents=True, exist_ok=True)
            with _report_file(file, "wb") as handle:
                save_image(torch.from_numpy(picture.astype(np.float32)), handle, format="png")
    scale = colour_scale_figure(vmax or 1.0, label="|x - reconstruction|, pixel values in [0, 1]")
    scale.suptitle("Colour scale of every picture in maps/")
    return [target, _save_figure(scale, output / "maps_colour_scale.png")]


def _file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_score_arguments(args) -> None:
    """Say so in one line when MODEL and DATA_DIR look swapped."""
    model, data_dir = Path(args.model), Path(args.data_dir)
    if model.is_dir() and data_dir.is_file():
        raise CommandError(
            f"MODEL {model} is a folder and DATA_DIR {data_dir} a file: the arguments look "
            "swapped; the model file comes first: skanomaly score MODEL DATA_DIR --output "
            "REPORT_DIR"
        )


def _note_resized(paths, size) -> None:
    """Say once how many images were resized to the model's ``size`` = ``(H, W)``."""
    from PIL import Image

    resized, stretched, example = 0, 0, None
    for path in paths:
        with Image.open(path) as image:  # reads the header only
            width, height = image.size
        if (height, width) != tuple(size):
            resized += 1
            stretched += height * size[1] != width * size[0]
            example = example or f"{height}x{width}"
    if resized:
        print(
            f"note: resized {resized} of {len(paths)} images (e.g. {example}) to the model's "
            f"{_shape_text(size)}"
            + (", changing their aspect ratio" if stretched else "")
            + ", as a model scores images of its own size only",
            file=sys.stderr,
        )


def _threshold_metrics(labels, flagged) -> dict:
    """What the threshold does on labelled images: confusion counts, precision, recall, F1."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    tn, fp, fn, tp = confusion_matrix(labels, flagged, labels=[0, 1]).ravel()
    precision, recall, f1, _ = precision_recall_fscore_support(
        labels, flagged, average="binary", zero_division=np.nan
    )
    # Undefined (nothing flagged, or no anomaly) is null in JSON, not NaN.
    defined = lambda value: None if np.isnan(value) else float(value)  # noqa: E731
    return {
        "precision": defined(precision),
        "recall": defined(recall),
        "f1": defined(f1),
        "true_positives": int(tp),
        "false_positives": int(fp),
        "false_negatives": int(fn),
        "true_negatives": int(tn),
    }


def _score(args) -> int:
    from ._runtime import resolve_device
    from .datasets import load_image_folder

    _check_flags(args, top_k=(1, None))
    if args.device is not None:
        try:
            resolve_device(args.device)
        except ValueError as exc:
            raise CommandError(_with_flag_names(str(exc))) from exc
    _check_score_arguments(args)
    model = load_model(args.model, device=args.device)
    model_sha256 = _file_sha256(args.model)  # of the file just read
    detector = model["detector"]
    channels, height, width = detector.image_shape_
    folder = _split_folder(args.data_dir, "test")
    output = Path(args.output)
    _check_writable_folder(output, "report")
    # Images of another size are resized to the model's (a no-op for those of
    # its size), as train --image-size resized the training images.
    data = load_image_folder(
        folder,
        image_size=(height, width),
        grayscale=channels == 1,
        return_masks=True,
        **_class_names(args),
    )
    if model["image_size"] is None:  # trained at the images' own size: say when they differ
        _note_resized(data.paths, (height, width))
    # Made after reading the images: the report folder may lie in the data folder.
    output.mkdir(parents=True, exist_ok=True)
    with _report_lock(output):
        return _write_report(args, model, model_sha256, folder, output, data)


def _write_report(args, model, model_sha256, folder, output, data) -> int:
    """Score the images and write every report file (the folder is locked)."""
    from torch import from_numpy
    from torchvision.utils import save_image

    from .plot import plot_history, plot_reconstructions, plot_score_histogram, reconstruction_grid

    detector = model["detector"]
    # run.json is written last and names the files of its run: until then, a
    # folder without one holds an unfinished (or failed) run, not a mix of two.
    (output / "run.json").unlink(missing_ok=True)
    start = time.perf_counter()
    anomaly_scores, maps = _score_images(
        detector,
        data.images,
        batch_size=args.batch_size,
        quiet=args.quiet,
        with_maps=data.masks is not None or args.maps,
    )
    threshold, threshold_source = _threshold(args, model, anomaly_scores)
    # predict()'s rule (anomaly score above -offset_ by default), without scoring twice
    flagged = anomaly_scores > threshold
    elapsed = time.perf_counter() - start

    written = [output / "scores.csv"]
    with _report_file(written[-1]) as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "anomaly_score", "predicted_anomaly", "true_anomaly"])
        for i, path in enumerate(data.paths):
            true = "" if data.target is None else int(data.target[i])
            writer.writerow([path, f"{anomaly_scores[i]:.6g}", int(flagged[i]), true])

    print(
        f"Scored {len(anomaly_scores)} images from {folder} in {elapsed:.1f} s: "
        f"{int(flagged.sum())} flagged as anomalous (anomaly score > {threshold:.4g}, "
        f"threshold {threshold_source})"
    )
    metrics = {
        "n_images": len(anomaly_scores),
        "n_flagged": int(flagged.sum()),
        "threshold": threshold,
        "threshold_source": threshold_source,
        "scoring_seconds": round(elapsed, 3),
        "image": None,
        "pixel": None,
    }
    labels = data.target
    if labels is not None:
        n_anomalous = int(labels.sum())
        image = {"roc_auc": None, "average_precision": None, "n_anomalous": n_anomalous}
        if 0 < n_anomalous < len(labels):
            image["roc_auc"], image["average_precision"] = _auc_ap(labels, anomaly_scores)
            print(
                f"ROC-AUC {image['roc_auc']:.4f}   average precision "
                f"{image['average_precision']:.4f}   (anomalies: {n_anomalous})"
            )
        else:
            print("ROC-AUC not computed: the folders hold only one class.")
        image["at_threshold"] = counts = _threshold_metrics(labels, flagged)
        rates = "   ".join(
            f"{name} {'n/a' if counts[key] is None else format(counts[key], '.4f')}"
            for name, key in (("precision", "precision"), ("recall", "recall"), ("F1", "f1"))
        )
        print(
            f"At the threshold: {rates}   (true positives {counts['true_positives']}, "
            f"false positives {counts['false_positives']}, false negatives "
            f"{counts['false_negatives']}, true negatives {counts['true_negatives']})"
        )
        metrics["image"] = image
    metrics["pixel"] = _pixel_metrics(data.masks, maps)
    if metrics["pixel"] is not None:
        pixel = metrics["pixel"]
        print(
            f"pixel ROC-AUC {pixel['roc_auc']:.4f}   AUPRO {pixel['aupro']:.4f} "
            f"(to FPR {AUPRO_MAX_FPR})   (defect masks: {pixel['n_images_with_masks']})"
        )
    elif data.masks is not None:
        print("Pixel metrics not computed: the masks hold no defect pixels.")
    metrics = _json_ready(metrics)
    written.append(_write_json(output / "metrics.json", metrics))

    top = np.argsort(-anomaly_scores, kind="stable")[: args.top_k]
    titles = [f"{anomaly_scores[i]:.3g}" for i in top]
    if labels is not None:
        titles = [
            f"{t}\n{'anomaly' if labels[i] else 'normal'}"
            for t, i in zip(titles, top, strict=True)
        ]
    top_masks = None if data.masks is None else data.masks[top]
    fig = plot_reconstructions(detector, data.images[top], titles=titles, masks=top_masks)
    fig.suptitle(f"The {len(top)} most anomalous images: input, reconstruction, anomaly map")
    written.append(_save_figure(fig, output / "top_anomalies.png"))
    grid = reconstruction_grid(detector, data.images[top], masks=top_masks)
    written.append(output / "top_anomalies_grid.png")
    with _report_file(written[-1], "wb") as handle:
        save_image(from_numpy(grid), handle, format="png")
    fig = plot_score_histogram(anomaly_scores, labels, threshold=threshold)
    written.append(_save_figure(fig, output / "score_histogram.png"))
    if getattr(detector, "history_", None):
        written.append(_save_figure(plot_history(detector), output / "training_history.png"))
    if args.maps:
        written.extend(_write_maps(folder, output, data, maps, args.batch_size))
    run = _provenance(args)
    run["model"] = {
        "path": str(args.model),
        "sha256": model_sha256,
        "detector": type(detector).__name__,
        "parameters": _json_ready(detector.get_params()),
        "device": str(detector.device_),
        "run": model.get("run"),  # how the model was trained
    }
    run["data_dir"] = str(folder)
    run["metrics"] = metrics
    written.append(output / "run.json")
    # What this run wrote: files of an earlier run into the same folder may remain.
    run["files"] = [str(path.relative_to(output)) for path in written]
    _write_json(written[-1], run)
    print("Wrote " + ", ".join(str(p) for p in written))
    return 0


# ----------------------------------------------------------------------
# skanomaly demo
# ----------------------------------------------------------------------
def _demo_params(args) -> dict:
    """The detectors' parameters in the demo: their defaults but for the flags' (see --help)."""
    return {
        "n_epochs": args.epochs,
        "batch_size": args.batch_size,
        "n_filters": args.n_filters,
        "random_state": args.seed,
        "device": args.device,
        "verbose": 0 if args.quiet else 1,
    }


def _demo(args) -> int:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from .datasets import one_class_split
    from .plot import plot_reconstructions

    _check_flags(
        args, epochs=(1, None), n_filters=(1, 4096), batch_size=(2, None), n_images=(1, 20)
    )
    _check_device(args.device)
    names = args.detectors or list(DETECTOR_NAMES)
    output = Path(args.output)
    _check_writable_folder(output, "pictures")
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
    output.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        detector = _detector_class(name)(**_demo_params(args))
        start = time.perf_counter()
        detector.fit(X_fit)
        fit_time = time.perf_counter() - start
        scores = -detector.score_samples(X_eval)
        auc, ap = _auc_ap(y_eval, scores)
        # How much reconstructions of normal test digits vary, relative to the
        # digits themselves: near 0 when the model draws the same digit for
        # every input, about 1 when reconstructions follow their inputs.
        normal = X_eval[y_eval == 0]
        diversity = detector.reconstruct(normal).std(axis=0).mean() / normal.std(axis=0).mean()
        rows.append((type(detector).__name__, auc, ap, diversity, detector.n_epochs_, fit_time))

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
        _save_figure(fig, output / f"demo_{name}.png")

    print(f"\n{'detector':<18}{'ROC-AUC':>9}{'AP':>8}{'diversity':>11}{'epochs':>8}{'fit (s)':>9}")
    for detector_name, auc, ap, diversity, epochs, fit_time in rows:
        print(
            f"{detector_name:<18}{auc:>9.3f}{ap:>8.3f}{diversity:>11.2f}{epochs:>8}"
            f"{fit_time:>9.1f}"
        )
    print(
        "diversity: spread of the reconstructions of normal test digits across inputs, "
        "relative to the digits' own (1 = they follow their inputs)."
    )
    print(f"\nPictures: {', '.join(str(output / f'demo_{n}.png') for n in names)}")
    return 0


# ----------------------------------------------------------------------
# skanomaly export
# ----------------------------------------------------------------------
def _export(args) -> int:
    from .export import export_onnx

    metadata, detector = _read_model_file(Path(args.model))
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
def _add_class_flags(parser) -> None:
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
    names = sorted(DETECTOR_NAMES)

    demo = commands.add_parser(
        "demo",
        help="train the detectors on embedded digits and report ROC-AUC",
        description="Train the detectors on one digit of scikit-learn's 8x8 digits (the others "
        "are the anomalies), print a ROC-AUC table and write pictures of the most and least "
        "anomalous test images. The detectors keep their Python defaults (epochs: 'auto', "
        "each detector's own budget of optimiser steps) except for two settings of the "
        "demo's own, for speed on tiny images on a CPU: --n-filters 32 and --batch-size 32 "
        "(the defaults: 64 and 64). About a minute in all on two idle CPU cores.",
    )
    demo.add_argument(
        "--output",
        default="skanomaly-demo",
        help="folder for the pictures (default: skanomaly-demo in the working directory)",
    )
    demo.add_argument(
        "--epochs",
        type=_epochs,
        default="auto",
        metavar="N|auto",
        help="training epochs (default: auto, the detectors' own choice)",
    )
    demo.add_argument("--digit", type=int, default=0, choices=range(10), help="the normal digit")
    demo.add_argument("--detectors", nargs="+", choices=names, help="default: all")
    demo.add_argument(
        "--n-filters", type=int, default=32, help="conv width (default: 32; the detectors' 64)"
    )
    demo.add_argument("--batch-size", type=int, default=32, help="default: 32; the detectors' 64")
    demo.add_argument("--n-images", type=int, default=6, help="images per end of the ranking")
    demo.add_argument("--seed", type=int, default=0, help="default: 0, so that runs repeat")
    demo.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(func=_demo)

    train = commands.add_parser(
        "train",
        help="train a detector on an image folder",
        description="Train a detector on the images of DATA_DIR/train (or of DATA_DIR when it "
        "has no train/ folder) and save it in skanomaly's safe weights-only format "
        "(skanomaly.save). Images sit in class folders (e.g. train/0.normal/) or directly "
        "in the folder. Options left out keep the detector's Python defaults; only --seed "
        "(default 0) differs, so that runs repeat.",
    )
    train.add_argument("data_dir", metavar="DATA_DIR")
    train.add_argument("--detector", required=True, choices=names)
    train.add_argument("--output", required=True, metavar="MODEL", help="model file to write")
    train.add_argument(
        "--epochs",
        type=_epochs,
        metavar="N|auto",
        help="training epochs (default: auto, the detector's budget of optimiser steps "
        "turned into epochs for the number of images)",
    )
    train.add_argument(
        "--image-size", type=_image_size, metavar="S|HxW", help="resize images (default: keep)"
    )
    train.add_argument(
        "--color",
        choices=["auto", "grey", "rgb"],
        default="auto",
        help="channels: auto = grey when every image is grey",
    )
    train.add_argument("--batch-size", type=int, help="default: 64")
    train.add_argument("--n-filters", type=int, help="conv width (default: 64)")
    train.add_argument("--latent-dim", type=int, help="default: chosen from the image size")
    train.add_argument(
        "--contamination", type=float, help="expected share of anomalies (default: 0.1)"
    )
    train.add_argument(
        "--learning-rate", type=float, metavar="LR", help="Adam's step (default: 2e-4)"
    )
    options = train.add_argument_group("detector options")
    options.add_argument(
        "--latent-steps", type=int, metavar="N", help="anogan: latent search steps per image"
    )
    options.add_argument(
        "--anomaly-score",
        choices=["latent", "reconstruction", "combined"],
        help="ganomaly: score by the latent error (the paper's, default), the "
        "reconstruction error, or both",
    )
    options.add_argument(
        "--disc-score",
        choices=["feature_matching", "cross_entropy"],
        help="egbad: the discriminator term of the score (default feature_matching)",
    )
    stopping = train.add_argument_group(
        "early stopping",
        "Hold out part of the training images, watch a label-free loss on them each epoch "
        "and keep the best weights; --epochs is then the most epochs.",
    )
    stopping.add_argument("--early-stopping", action="store_true", help="turn it on")
    stopping.add_argument(
        "--validation-fraction", type=float, metavar="F", help="share held out (default 0.1)"
    )
    stopping.add_argument(
        "--n-iter-no-change",
        type=int,
        metavar="N",
        help="stop after N epochs without improvement (default 10)",
    )
    train.add_argument("--seed", type=int, default=0, help="default: 0, so that runs repeat")
    train.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    train.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="processes that read and decode images ahead of the training steps (default: 0, "
        "read between steps); images are read from disk batch by batch either way",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_class_flags(train)
    train.set_defaults(func=_train)

    score = commands.add_parser(
        "score",
        help="score an image folder with a trained model",
        description="Score the images of DATA_DIR/test (or of DATA_DIR when it has no test/ "
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
    )
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
    score.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_class_flags(score)
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
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded with the outputs
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
