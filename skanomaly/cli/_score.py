"""``skanomaly score MODEL DATA_DIR --output REPORT_DIR``: score a folder, write the report."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from ._common import (
    CommandError,
    auc_ap,
    check_device,
    check_flags,
    check_writable_folder,
    json_ready,
    provenance,
    read_image_folder,
    shape_text,
    split_folder,
)
from ._models import load_model
from ._report import report_lock, write_json, write_maps, write_pictures, write_scores

# The integration limit of AUPRO reported by ``score`` (the MVTec AD paper's).
AUPRO_MAX_FPR = 0.3


def run(args) -> int:
    """Check the flags, read the model and the images, then score them into the locked folder."""
    check_flags(args, top_k=(1, None))
    if args.device is not None:
        check_device(args.device)
    _check_arguments(args)
    model = load_model(args.model, device=args.device)
    channels, height, width = model["detector"].image_shape_
    folder = split_folder(args.data_dir, "test")
    output = Path(args.output)
    check_writable_folder(output, "report")
    # Images of another size are resized to the model's (a no-op for those of
    # its size), as train --image-size resized the training images.
    data = read_image_folder(
        folder, args, in_memory=True, image_size=(height, width), grayscale=channels == 1
    )
    if model["image_size"] is None:  # trained at the images' own size: say when they differ
        _note_resized(data.original_sizes, (height, width))
    # Made after reading the images: the report folder may lie in the data folder.
    output.mkdir(parents=True, exist_ok=True)
    with report_lock(output):
        return _score_and_report(args, model, folder, output, data)


def _check_arguments(args) -> None:
    """Say so in one line when MODEL and DATA_DIR look swapped."""
    model, data_dir = Path(args.model), Path(args.data_dir)
    if model.is_dir() and data_dir.is_file():
        raise CommandError(
            f"MODEL {model} is a folder and DATA_DIR {data_dir} a file: the arguments look "
            "swapped; the model file comes first: skanomaly score MODEL DATA_DIR --output "
            "REPORT_DIR"
        )


def _note_resized(original_sizes, size) -> None:
    """Say once how many images were resized to the model's ``size`` = ``(H, W)``."""
    resized = [hw for hw in original_sizes if tuple(hw) != tuple(size)]
    if resized:
        stretched = any(h * size[1] != w * size[0] for h, w in resized)
        print(
            f"note: resized {len(resized)} of {len(original_sizes)} images "
            f"(e.g. {shape_text(resized[0])}) to the model's {shape_text(size)}"
            + (", changing their aspect ratio" if stretched else "")
            + ", as a model scores images of its own size only",
            file=sys.stderr,
        )


def _score_and_report(args, model, folder, output, data) -> int:
    """Score the images and write every report file (the folder is locked)."""
    detector = model["detector"]
    # run.json is written last and names the files of its run: until then, a
    # folder without one holds an unfinished (or failed) run, not a mix of two.
    (output / "run.json").unlink(missing_ok=True)
    start = time.perf_counter()
    anomaly_scores, maps = score_images(
        detector,
        data.images,
        batch_size=args.batch_size,
        quiet=args.quiet,
        with_maps=data.masks is not None or args.maps,
    )
    threshold, threshold_source = choose_threshold(args, model, anomaly_scores)
    # predict()'s rule (anomaly score above -offset_ by default), without scoring twice
    flagged = anomaly_scores > threshold
    elapsed = time.perf_counter() - start

    written = [write_scores(output / "scores.csv", data, anomaly_scores, flagged)]
    print(
        f"Scored {len(anomaly_scores)} images from {folder} in {elapsed:.1f} s: "
        f"{int(flagged.sum())} flagged as anomalous (anomaly score > {threshold:.4g}, "
        f"threshold {threshold_source})"
    )
    metrics = json_ready(
        {
            "n_images": len(anomaly_scores),
            "n_flagged": int(flagged.sum()),
            "threshold": threshold,
            "threshold_source": threshold_source,
            "scoring_seconds": round(elapsed, 3),
            "image": _image_metrics(data.target, anomaly_scores, flagged),
            "pixel": _report_pixel_metrics(data.masks, maps),
        }
    )
    written.append(write_json(output / "metrics.json", metrics))
    written += write_pictures(output, detector, data, anomaly_scores, threshold, args.top_k)
    if args.maps:
        written += write_maps(folder, output, data, maps, args.batch_size)
    written.append(output / "run.json")
    write_json(written[-1], _run_record(args, model, folder, metrics, written))
    print("Wrote " + ", ".join(str(p) for p in written))
    return 0


def score_images(detector, images, *, batch_size, quiet, with_maps):
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
                scores.append(-batch_scores)
                maps.append(batch_maps.mean(axis=1).astype(np.float32))
            else:
                scores.append(-detector.score_samples(images[batch]))
            bar.update(batch.stop - batch.start)
    return np.concatenate(scores), (np.concatenate(maps) if with_maps else None)


def choose_threshold(args, model, anomaly_scores) -> tuple[float, str]:
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


def _image_metrics(labels, anomaly_scores, flagged) -> dict | None:
    """ROC-AUC, average precision and what the threshold does, printed; None without labels."""
    if labels is None:
        return None
    n_anomalous = int(labels.sum())
    image = {"roc_auc": None, "average_precision": None, "n_anomalous": n_anomalous}
    if 0 < n_anomalous < len(labels):
        image["roc_auc"], image["average_precision"] = auc_ap(labels, anomaly_scores)
        print(
            f"ROC-AUC {image['roc_auc']:.4f}   average precision "
            f"{image['average_precision']:.4f}   (anomalies: {n_anomalous})"
        )
    else:
        print("ROC-AUC not computed: the folders hold only one class.")
    image["at_threshold"] = counts = threshold_metrics(labels, flagged)
    rates = "   ".join(
        f"{name} {'n/a' if counts[key] is None else format(counts[key], '.4f')}"
        for name, key in (("precision", "precision"), ("recall", "recall"), ("F1", "f1"))
    )
    print(
        f"At the threshold: {rates}   (true positives {counts['true_positives']}, "
        f"false positives {counts['false_positives']}, false negatives "
        f"{counts['false_negatives']}, true negatives {counts['true_negatives']})"
    )
    return image


def threshold_metrics(labels, flagged) -> dict:
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


def _report_pixel_metrics(masks, maps) -> dict | None:
    """:func:`pixel_metrics`, printed (or why there are none)."""
    pixel = pixel_metrics(masks, maps)
    if pixel is not None:
        print(
            f"pixel ROC-AUC {pixel['roc_auc']:.4f}   AUPRO {pixel['aupro']:.4f} "
            f"(to FPR {AUPRO_MAX_FPR})   (defect masks: {pixel['n_images_with_masks']})"
        )
    elif masks is not None:
        print("Pixel metrics not computed: the masks hold no defect pixels.")
    return pixel


def pixel_metrics(masks, maps) -> dict | None:
    """Pixel ROC-AUC and AUPRO, or None when the masks cannot give them."""
    from ..metrics import aupro, pixel_roc_auc

    if masks is None or not masks.any() or masks.all():
        return None
    return {
        "roc_auc": pixel_roc_auc(masks, maps),
        "aupro": aupro(masks, maps, max_fpr=AUPRO_MAX_FPR),
        "aupro_max_fpr": AUPRO_MAX_FPR,
        "n_defect_pixels": int(masks.sum()),
        "n_images_with_masks": int(masks.any(axis=(1, 2)).sum()),
    }


def _run_record(args, model, folder, metrics, written) -> dict:
    """``run.json``: the command, versions, model, data, metrics and the files written."""
    detector = model["detector"]
    run = provenance(args)
    run["model"] = {
        "path": str(args.model),
        "sha256": model["sha256"],
        "detector": type(detector).__name__,
        "parameters": json_ready(detector.get_params()),
        "device": str(detector.device_),
        "run": model.get("run"),  # how the model was trained
    }
    run["data_dir"] = str(folder)
    run["metrics"] = metrics
    output = Path(args.output)
    # What this run wrote: files of an earlier run into the same folder may remain.
    run["files"] = [str(path.relative_to(output)) for path in written]
    return run
