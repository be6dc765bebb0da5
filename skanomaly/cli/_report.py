"""The files a command writes: report files, figures, heat maps, and the report folder's lock.

Every file is written whole through :func:`skanomaly._io.atomic_write`
(readers, and a run that fails half-way, see the old file or the new one,
never half of one), with the permissions the umask gives. Text is UTF-8;
file names that are not UTF-8 stay readable (backslash escapes).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from pathlib import Path

import numpy as np

from .._io import atomic_write
from ._common import CommandError

_TEXT = {"errors": "backslashreplace"}


@contextlib.contextmanager
def report_lock(folder: Path):
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


def write_json(path: Path, value) -> Path:
    """A JSON report file (``metrics.json``, ``run.json``), indented."""
    with atomic_write(path, "w", **_TEXT) as handle:
        json.dump(value, handle, indent=2)
    return path


def save_figure(fig, path: Path) -> Path:
    """A matplotlib figure as a PNG."""
    with atomic_write(path) as handle:
        fig.savefig(handle, format="png", dpi=100)
    return path


def save_picture(picture, path: Path) -> Path:
    """A ``(3, H, W)`` array of values in [0, 1] as a PNG, one pixel per value."""
    import torch
    from torchvision.utils import save_image

    with atomic_write(path) as handle:
        save_image(torch.from_numpy(picture.astype(np.float32)), handle, format="png")
    return path


def write_scores(path: Path, data, anomaly_scores, flagged) -> Path:
    """``scores.csv``: path, anomaly_score, predicted_anomaly, true_anomaly (empty: no label)."""
    # newline="": the csv module writes its own line ends.
    with atomic_write(path, "w", newline="", **_TEXT) as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "anomaly_score", "predicted_anomaly", "true_anomaly"])
        for i, image_path in enumerate(data.paths):
            true = "" if data.target is None else int(data.target[i])
            writer.writerow([image_path, f"{anomaly_scores[i]:.6g}", int(flagged[i]), true])
    return path


def write_pictures(output: Path, detector, data, anomaly_scores, threshold, top_k) -> list[Path]:
    """The most anomalous images (figure and grid), the score histogram, the training losses."""
    from ..plot import (
        plot_history,
        plot_reconstructions,
        plot_score_histogram,
        reconstruction_grid,
    )

    labels = data.target
    top = np.argsort(-anomaly_scores, kind="stable")[:top_k]
    titles = [f"{anomaly_scores[i]:.3g}" for i in top]
    if labels is not None:
        titles = [
            f"{t}\n{'anomaly' if labels[i] else 'normal'}"
            for t, i in zip(titles, top, strict=True)
        ]
    masks = None if data.masks is None else data.masks[top]
    fig = plot_reconstructions(detector, data.images[top], titles=titles, masks=masks)
    fig.suptitle(f"The {len(top)} most anomalous images: input, reconstruction, anomaly map")
    written = [save_figure(fig, output / "top_anomalies.png")]
    grid = reconstruction_grid(detector, data.images[top], masks=masks)
    written.append(save_picture(grid, output / "top_anomalies_grid.png"))
    fig = plot_score_histogram(anomaly_scores, labels, threshold=threshold)
    written.append(save_figure(fig, output / "score_histogram.png"))
    if getattr(detector, "history_", None):
        written.append(save_figure(plot_history(detector), output / "training_history.png"))
    return written


def map_file(target: Path, folder: Path, image_path: str) -> Path:
    """The map file of one image: ``maps/<path under folder>.png``.

    The image's whole name is kept, so ``x.png`` and ``x.jpg`` get
    ``x.png.png`` and ``x.jpg.png``: one map each.
    """
    relative = Path(image_path).relative_to(folder)
    return target / relative.parent / f"{relative.name}.png"


def write_maps(folder: Path, output: Path, data, maps, batch_size: int) -> list[Path]:
    """One heat-map PNG per image (mask outlines included), and their colour scale."""
    from ..plot import colour_scale_figure, heatmap_pictures

    target = output / "maps"
    vmax = float(np.percentile(maps, 99)) or None  # one colour scale for every picture
    masks = data.get("masks")
    for batch in range(0, len(maps), batch_size):
        rows = slice(batch, batch + batch_size)
        pictures = heatmap_pictures(
            data.images[rows], maps[rows], None if masks is None else masks[rows], vmax=vmax
        )
        for path, picture in zip(data.paths[rows], pictures, strict=True):
            file = map_file(target, folder, path)
            file.parent.mkdir(parents=True, exist_ok=True)
            save_picture(picture, file)
    scale = colour_scale_figure(vmax or 1.0, label="|x - reconstruction|, pixel values in [0, 1]")
    scale.suptitle("Colour scale of every picture in maps/")
    return [target, save_figure(scale, output / "maps_colour_scale.png")]
