"""Who runs and how: the detectors and baselines, fitted and scored on every split."""

from __future__ import annotations

import math
import time
import traceback
import warnings
from collections.abc import Callable, Collection, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from protocols import (
    Profile,
    has_images,
    load_tabular,
    one_class_tasks,
    tabular_path,
    tabular_split,
)
from sklearn.metrics import average_precision_score, roc_auc_score

from skanomaly import AnoGANDetector, EGBADDetector, GANomalyDetector


@dataclass(frozen=True)
class Contender:
    """A detector in the benchmark.

    ``make(params, seed, device)`` returns an unfitted estimator and
    ``anomaly_score(estimator, X)`` its scores, higher = more abnormal.
    ``images_as`` says whether it gets images as ``"arrays"`` (n, C, H, W)
    or ``"rows"`` of flattened pixels in [0, 1]; ``seeds_global_torch``
    marks models that draw from the global torch generator (PyOD's GANs),
    which the runner then seeds inside a fork.
    """

    name: str
    family: str
    make: Callable
    anomaly_score: Callable
    images_as: str = "rows"
    seeds_global_torch: bool = False


class L1ToMedian:
    """The trivial baseline: mean absolute distance to the training median.

    ``decision_function`` follows PyOD (higher = more abnormal).

    >>> import numpy as np
    >>> L1ToMedian().fit(np.zeros((3, 2))).decision_function(np.array([[0, 0], [1, -3]]))
    array([0., 2.])
    """

    def fit(self, X, y=None):
        self.median_ = np.median(np.asarray(X, dtype=np.float64).reshape(len(X), -1), axis=0)
        return self

    def decision_function(self, X):
        rows = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        return np.abs(rows - self.median_).mean(axis=1)


def _negated_score_samples(estimator, X):
    return -np.asarray(estimator.score_samples(X), dtype=np.float64)


def _decision_function(estimator, X):
    return np.asarray(estimator.decision_function(X), dtype=np.float64)


def contenders() -> list[Contender]:
    """Every detector of the benchmark, in the order of the report."""
    from pyod.models.alad import ALAD
    from pyod.models.anogan import AnoGAN
    from pyod.models.auto_encoder import AutoEncoder
    from pyod.models.ecod import ECOD
    from pyod.models.iforest import IForest
    from pyod.models.knn import KNN
    from pyod.models.lof import LOF
    from sklearn.ensemble import IsolationForest

    def ours(name, cls, **fixed):
        def make(params, seed, device):
            return cls(**params, **fixed, random_state=seed, device=device)

        return Contender(name, "skanomaly", make, _negated_score_samples, images_as="arrays")

    def pyod(name, make, **kwargs):
        return Contender(name, "PyOD", make, _decision_function, **kwargs)

    return [
        ours("AnoGAN (skanomaly)", AnoGANDetector),
        ours("EGBAD (skanomaly)", EGBADDetector),
        ours("GANomaly (skanomaly)", GANomalyDetector),
        ours("GANomaly-rec (skanomaly)", GANomalyDetector, anomaly_score="reconstruction"),
        pyod(
            "AnoGAN (PyOD)",
            lambda params, seed, device: AnoGAN(**params, device=device),
            seeds_global_torch=True,
        ),
        pyod(
            "ALAD (PyOD)",
            lambda params, seed, device: ALAD(**params, device=device),
            seeds_global_torch=True,
        ),
        pyod(
            "AutoEncoder (PyOD)",
            lambda params, seed, device: AutoEncoder(
                **{"verbose": 0, **params}, random_state=seed, device=device
            ),
        ),
        pyod("IForest (PyOD)", lambda params, seed, device: IForest(**params, random_state=seed)),
        pyod("ECOD (PyOD)", lambda params, seed, device: ECOD(**params)),
        pyod("KNN (PyOD)", lambda params, seed, device: KNN(**params)),
        pyod("LOF (PyOD)", lambda params, seed, device: LOF(**params)),
        Contender(
            "IsolationForest (sklearn)",
            "scikit-learn",
            lambda params, seed, device: IsolationForest(**params, random_state=seed),
            _negated_score_samples,
        ),
        Contender(
            "L1 to median (trivial)",
            "baseline",
            lambda params, seed, device: L1ToMedian(),
            _decision_function,
        ),
    ]


def row_key(row: dict) -> tuple:
    """What identifies one fit: part, data set, normal class, seed, detector."""
    return (
        row["part"],
        row["dataset"],
        str(row["normal_class"]),
        int(row["seed"]),
        row["detector"],
    )


def evaluate(row: dict, contender: Contender, params, device, data, log) -> dict:
    """Fit and score one contender on ``data = (X_train, X_test, y_test)``; fill ``row``.

    A failing fit is recorded (``status`` "error: ...", NaN metrics), not raised.
    """
    X_train, X_test, y_test = data
    seed = row["seed"]
    # PyOD's GANs draw from the global torch generator: seed it inside a fork
    # so that their runs repeat and nothing leaks into the next contender.
    seeded = contender.seeds_global_torch
    cuda = [torch.cuda.current_device()] if str(device).startswith("cuda") else []
    try:
        estimator = contender.make(params, seed, device)
        with torch.random.fork_rng(devices=cuda) if seeded else nullcontext():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if seeded:
                    torch.manual_seed(seed)
                start = time.perf_counter()
                estimator.fit(X_train)
                fit_s = time.perf_counter() - start
                start = time.perf_counter()
                scores = contender.anomaly_score(estimator, X_test)
                score_s = time.perf_counter() - start
        if not np.all(np.isfinite(scores)):
            raise FloatingPointError("non-finite anomaly scores")
        row.update(
            roc_auc=roc_auc_score(y_test, scores),
            average_precision=average_precision_score(y_test, scores),
            fit_s=fit_s,
            score_s=score_s,
            status="ok",
        )
    except Exception as exc:  # one failing fit must not end a long run
        row.update(roc_auc=math.nan, average_precision=math.nan, fit_s=math.nan, score_s=math.nan)
        row["status"] = f"error: {type(exc).__name__}: {exc}".replace("\n", " ")[:300]
        log(traceback.format_exc())
    row["params"] = repr(params)
    log(
        f"  {row['dataset']:>14} {str(row['normal_class']):>12} seed {seed} "
        f"{contender.name:<26} AUC {row['roc_auc']:.3f}  AP {row['average_precision']:.3f}  "
        f"fit {row['fit_s']:.1f}s  score {row['score_s']:.1f}s  {row['status']}"
    )
    return row


def run_benchmark(
    profile: Profile,
    *,
    data_dir: Path,
    device: str = "cpu",
    datasets: Sequence[str] | None = None,
    detectors: Sequence[str] | None = None,
    done: Collection[tuple] = (),
    log: Callable[[str], None] = print,
    on_row: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Run every contender of ``profile``; return one result row per fit.

    ``data_dir`` holds ``odds/*.mat`` and ``FashionMNIST/raw``; a set whose
    files are absent is skipped with a line saying so. ``datasets`` and
    ``detectors`` restrict the run to those names; fits whose
    :func:`row_key` is in ``done`` are skipped (how a run is resumed);
    ``on_row`` receives each finished row. Rows have the keys of
    ``report.CSV_FIELDS``.
    """
    data_dir = Path(data_dir)
    everyone = [c for c in contenders() if not detectors or c.name in detectors]
    done = set(done)
    rows: list[dict] = []

    def run(part, dataset, c, class_name, seed, contender, params, data):
        row = {
            "part": part,
            "dataset": dataset,
            "normal_class": c,
            "class_name": class_name,
            "seed": seed,
            "detector": contender.name,
            "family": contender.family,
            "n_train": len(data[0]),
            "n_test": len(data[1]),
        }
        if row_key(row) in done:
            return
        rows.append(evaluate(row, contender, params, device, data, log))
        if on_row is not None:
            on_row(row)

    def params_for(contender, ours, pyod):
        return dict(ours) if contender.family == "skanomaly" else pyod.get(contender.name, {})

    tabular = {}
    for name in profile.tabular_sets:
        if datasets and name not in datasets:
            continue
        data = load_tabular(name, data_dir, profile.shuttle_rows)
        if data is None:
            log(f"{name}: {tabular_path(name, data_dir)} not found, skipped")
            continue
        X, y = data
        log(f"{name}: {X.shape[0]} rows, {X.shape[1]} features, {y.mean():.1%} outliers")
        tabular[name] = X, y
    # Seeds outermost: a run cut short still holds complete seeds.
    tabular_contenders = [
        c
        for c in everyone
        if not profile.tabular_contenders or c.name in profile.tabular_contenders
    ]
    first = profile.tabular_first_seed
    for seed in range(first, first + profile.tabular_seeds):
        for name, (X, y) in tabular.items():
            split = tabular_split(
                X,
                y,
                seed,
                protocol=profile.tabular_protocol,
                max_train_rows=profile.max_train_rows,
            )
            for contender in tabular_contenders:
                params = params_for(contender, profile.ours_tabular, profile.pyod_tabular)
                run("tabular", name, "", "", seed, contender, params, split)

    image_contenders = [c for c in everyone if c.name in profile.image_contenders]
    for name in profile.image_sets:
        if datasets and name not in datasets:
            continue
        if not has_images(name, data_dir):
            log(f"{name}: {data_dir / 'FashionMNIST' / 'raw'} not found, skipped")
            continue
        for seed in range(profile.image_seeds):
            for c, class_name, X_train, X_test, y_test in one_class_tasks(
                name, profile, data_dir, seed
            ):
                log(f"{name} class {class_name}: {len(X_train)} training, {len(X_test)} test")
                # PyOD and scikit-learn take rows: flattened pixels in [0, 1].
                high = float(X_train.max()) or 1.0
                as_rows = (
                    X_train.reshape(len(X_train), -1) / high,
                    X_test.reshape(len(X_test), -1) / high,
                    y_test,
                )
                for contender in image_contenders:
                    only = profile.image_class_limit.get(name, {}).get(contender.name)
                    if only is not None and c not in only:
                        continue
                    params = params_for(
                        contender, profile.ours_image.get(name, {}), profile.pyod_image
                    )
                    arrays = contender.images_as == "arrays"
                    data = (X_train, X_test, y_test) if arrays else as_rows
                    run("image", name, c, class_name, seed, contender, params, data)
    return rows
