"""``skanomaly train DATA_DIR --detector NAME --output MODEL``: train a detector, save it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from ._common import (
    CommandError,
    check_device,
    check_flags,
    json_ready,
    provenance,
    read_image_folder,
    shape_text,
    split_folder,
)
from ._models import check_model_output, save_model
from ._params import check_parameter_ranges, detector_from_args, with_flag_names


def run(args) -> int:
    """Train on ``DATA_DIR/train`` read from disk batch by batch, and save the model file."""
    from ..datasets import fit_folder

    check_parameter_ranges(args)
    check_flags(args, workers=(0, 64))
    check_device(args.device)
    check_model_output(Path(args.output))  # before training, not after
    detector = detector_from_args(args)
    folder = split_folder(args.data_dir, "train")
    grayscale = {"grey": True, "rgb": False, "auto": None}[args.color]
    # Read from disk batch by batch: memory does not grow with the number of images.
    images = read_image_folder(
        folder, args, in_memory=False, image_size=args.image_size, grayscale=grayscale
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
        f"({shape_text(shape)}) from {folder}"
    )
    start = time.perf_counter()
    try:
        fit_folder(detector, images, num_workers=args.workers)
    except ValueError as exc:
        raise ValueError(with_flag_names(str(exc))) from exc
    elapsed = time.perf_counter() - start
    save_model(
        args.output,
        detector,
        image_size=args.image_size,
        grayscale=shape[0] == 1,
        train_dir=folder,
        run=_run_record(args, detector, len(images), shape, elapsed),
        training_scores=detector.decision_scores_,
    )
    print(
        f"Trained {detector.n_epochs_} epochs in {elapsed:.1f} s; saved the model: {args.output}"
    )
    return 0


def _run_record(args, detector, n_images, shape, elapsed) -> dict:
    """What produced the model (its metadata's ``run``): command, versions, parameters, losses."""
    run = provenance(args)
    run["detector"] = type(detector).__name__
    run["parameters"] = json_ready(detector.get_params())
    run["metrics"] = {
        "n_images": n_images,
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
    return run
