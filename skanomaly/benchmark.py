"""Benchmark skanomaly's detectors against PyOD and scikit-learn, side by side.

One run evaluates every contender on the same splits:

- **tabular** (PyOD's benchmark protocol): ODDS ``breastw``, ``glass`` and
  ``shuttle`` (a stratified subsample) plus scikit-learn's breast cancer
  (malignant = outlier); a 60/40 stratified split per seed, features
  standardised on the training part (``pyod.utils.utility.standardizer``),
  every detector fitted on the contaminated training part, ROC-AUC and
  average precision on the test part, fit and score seconds;
- **images** (one-class protocol): each class of Fashion-MNIST and of
  scikit-learn's digits is the normal class in turn; train on (a subsample
  of) that class's training images, test on a fixed test subsample where
  every other class is anomalous; ROC-AUC per class and its mean.

It writes ``results.csv`` (one row per fit), ``results.md`` (tables, the
issue's targets computed from the results, the machine and the command) and
two plots into the output folder. Run it with
``python benchmarks/run_benchmark.py`` (``--quick`` for a smoke test).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import shlex
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Collection, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .datasets import FASHION_MNIST_CLASSES, load_fashion_mnist, load_odds

__all__ = ["PROFILES", "Contender", "Profile", "contenders", "main", "row_key", "run_benchmark"]

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets"
OUR_DETECTORS = ("AnoGANDetector", "EGBADDetector", "GANomalyDetector")
OUR_NAMES = tuple(name.removesuffix("Detector") + " (skanomaly)" for name in OUR_DETECTORS)
TABULAR_SETS = ("breastw", "glass", "shuttle", "breast_cancer")
IMAGE_SETS = ("fashion_mnist", "digits")


# ----------------------------------------------------------------------
# What to run: profiles.
# ----------------------------------------------------------------------
@dataclass(frozen=True)
class Profile:
    """Sizes and settings of one benchmark run.

    ``ours_tabular`` holds constructor parameters of the skanomaly
    detectors (parameters a detector lacks are skipped), ``ours_image`` the
    same per image set; ``pyod_tabular`` and ``pyod_image`` map a
    contender's name to its parameters. An empty dict means the library's
    defaults. ``image_skip`` maps an image set to contenders left out of it.
    ``image_class_limit`` maps an image set to ``{contender: classes}`` for
    contenders run on some classes only. ``defaults_timing`` names tabular
    sets on which PyOD's AnoGAN is also run once (seed 0) at its defaults, to
    time it where the main comparison caps it.
    """

    name: str
    tabular_sets: tuple[str, ...] = TABULAR_SETS
    tabular_seeds: int = 3
    shuttle_rows: int = 5000
    ours_tabular: dict = field(default_factory=dict)
    pyod_tabular: dict = field(default_factory=dict)
    defaults_timing: tuple[str, ...] = ()
    image_sets: tuple[str, ...] = IMAGE_SETS
    image_seeds: int = 1
    image_classes: tuple[int, ...] | None = None
    fashion_train_per_class: int = 1000
    fashion_test: int = 2000
    ours_image: dict = field(default_factory=dict)
    pyod_image: dict = field(default_factory=dict)
    image_contenders: tuple[str, ...] = ()
    image_skip: dict = field(default_factory=dict)
    image_class_limit: dict = field(default_factory=dict)


# What 2 CPU cores can do in about an hour and a half. On tabular data every
# detector runs at its defaults except PyOD's AnoGAN, capped at 50 epochs
# and 5 latent steps (its per-training-row latent search takes most of an
# hour at its defaults here), which is also run once at its defaults, on
# glass, for the time target. On images the networks are narrowed
# (``n_filters=16`` on Fashion-MNIST, 32 on digits) but trained as long as
# the defaults do (about 600 optimiser steps on Fashion-MNIST: 500 images a
# class, 75 epochs); AnoGAN's latent search over 1,000 test images a class
# limits it to three Fashion-MNIST classes.
_CPU_FULL = Profile(
    name="full",
    shuttle_rows=1000,
    pyod_tabular={"AnoGAN (PyOD)": {"epochs": 50, "epochs_query": 5}},
    defaults_timing=("glass",),
    fashion_train_per_class=500,
    fashion_test=1000,
    ours_image={
        "fashion_mnist": {"n_epochs": 75, "n_filters": 16},
        "digits": {"n_filters": 32},
    },
    image_contenders=(
        *OUR_NAMES,
        "AutoEncoder (PyOD)",
        "IsolationForest (sklearn)",
        "L1 to median (trivial)",
    ),
    image_class_limit={"fashion_mnist": {"AnoGAN (skanomaly)": (0, 1, 7)}},
)

# With a GPU: every tabular detector at its defaults, more images, wider
# image networks and the PyOD GANs on the images too (capped).
_GPU_FULL = Profile(
    name="full-gpu",
    shuttle_rows=5000,
    image_seeds=3,
    fashion_train_per_class=2000,
    fashion_test=5000,
    ours_image={"fashion_mnist": {"n_epochs": 50}, "digits": {}},
    pyod_image={
        "AnoGAN (PyOD)": {"epochs": 50, "epochs_query": 20},
        "ALAD (PyOD)": {"epochs": 50},
    },
    image_contenders=(
        *OUR_NAMES,
        "AnoGAN (PyOD)",
        "ALAD (PyOD)",
        "AutoEncoder (PyOD)",
        "IsolationForest (sklearn)",
    ),
)

# A smoke test: every code path, tiny data, a few steps.
_QUICK = Profile(
    name="quick",
    tabular_sets=("glass", "breast_cancer"),
    tabular_seeds=1,
    ours_tabular={"n_epochs": 2},
    pyod_tabular={
        "AnoGAN (PyOD)": {"epochs": 2, "epochs_query": 2},
        "ALAD (PyOD)": {"epochs": 2},
        "AutoEncoder (PyOD)": {"epoch_num": 2},
    },
    image_classes=(0, 1),
    fashion_train_per_class=64,
    fashion_test=200,
    ours_image={
        "fashion_mnist": {"n_epochs": 1, "n_filters": 8},
        "digits": {"n_epochs": 2, "n_filters": 8},
    },
    image_contenders=("GANomaly (skanomaly)", "AutoEncoder (PyOD)", "IsolationForest (sklearn)"),
    pyod_image={"AutoEncoder (PyOD)": {"epoch_num": 1}},
)

PROFILES = {"full": _CPU_FULL, "full-gpu": _GPU_FULL, "quick": _QUICK}


# ----------------------------------------------------------------------
# Who runs: contenders.
# ----------------------------------------------------------------------
@dataclass(frozen=True)
class Contender:
    """A detector in the benchmark.

    ``make(params, seed, device)`` returns an unfitted estimator;
    ``anomaly_score(estimator, X)`` its scores, higher = more abnormal;
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


def _negated_score_samples(estimator, X):
    return -np.asarray(estimator.score_samples(X), dtype=np.float64)


def _pyod_decision_function(estimator, X):
    return np.asarray(estimator.decision_function(X), dtype=np.float64)


def _accepted(estimator_cls, params: dict) -> dict:
    """The entries of ``params`` that ``estimator_cls`` takes."""
    names = estimator_cls._get_param_names()
    return {key: value for key, value in params.items() if key in names}


def _our_contender(class_name: str) -> Contender | None:
    import skanomaly

    cls = getattr(skanomaly, class_name, None)
    if cls is None:
        return None

    def make(params, seed, device):
        return cls(**_accepted(cls, {**params, "random_state": seed, "device": device}))

    return Contender(
        name=class_name.removesuffix("Detector") + " (skanomaly)",
        family="skanomaly",
        make=make,
        anomaly_score=_negated_score_samples,
        images_as="arrays",
    )


class L1ToMedian:
    """The trivial baseline: mean absolute distance to the training median.

    ``decision_function`` follows PyOD (higher = more abnormal). On some ODDS
    sets it beats IsolationForest, which is why it stands beside every row.
    """

    def fit(self, X, y=None):
        self.median_ = np.median(np.asarray(X, dtype=np.float64).reshape(len(X), -1), axis=0)
        return self

    def decision_function(self, X):
        rows = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        return np.abs(rows - self.median_).mean(axis=1)


def _ganomaly_reconstruction() -> Contender | None:
    """GANomaly scored by its reconstruction error (``anomaly_score="reconstruction"``)."""
    base = _our_contender("GANomalyDetector")
    if base is None or "anomaly_score" not in base.make({}, 0, "cpu").get_params():
        return None
    return replace(
        base,
        name="GANomaly-rec (skanomaly)",
        make=lambda params, seed, device: base.make(
            {**params, "anomaly_score": "reconstruction"}, seed, device
        ),
    )


def contenders() -> list[Contender]:
    """Every detector of the benchmark; skanomaly's missing from this build are left out."""
    from pyod.models.alad import ALAD
    from pyod.models.anogan import AnoGAN
    from pyod.models.auto_encoder import AutoEncoder
    from pyod.models.ecod import ECOD
    from pyod.models.iforest import IForest
    from sklearn.ensemble import IsolationForest

    ours = [c for c in map(_our_contender, OUR_DETECTORS) if c is not None]
    if (reconstruction := _ganomaly_reconstruction()) is not None:
        ours.append(reconstruction)

    def make_autoencoder(params, seed, device):
        return AutoEncoder(**{"verbose": 0, **params, "random_state": seed, "device": device})

    pyod = [
        Contender(
            "AnoGAN (PyOD)",
            "PyOD",
            lambda params, seed, device: AnoGAN(**params, device=device),
            _pyod_decision_function,
            seeds_global_torch=True,
        ),
        Contender(
            "ALAD (PyOD)",
            "PyOD",
            lambda params, seed, device: ALAD(**params, device=device),
            _pyod_decision_function,
            seeds_global_torch=True,
        ),
        Contender("AutoEncoder (PyOD)", "PyOD", make_autoencoder, _pyod_decision_function),
        Contender(
            "IForest (PyOD)",
            "PyOD",
            lambda params, seed, device: IForest(**params, random_state=seed),
            _pyod_decision_function,
        ),
        Contender(
            "ECOD (PyOD)",
            "PyOD",
            lambda params, seed, device: ECOD(**params),
            _pyod_decision_function,
        ),
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
            _pyod_decision_function,
        ),
    ]
    return ours + pyod


def _params_for(contender: Contender, ours: dict, pyod: dict) -> dict:
    return dict(ours) if contender.family == "skanomaly" else dict(pyod.get(contender.name, {}))


# ----------------------------------------------------------------------
# Data.
# ----------------------------------------------------------------------
def _load_tabular(name: str, data_dir: Path, shuttle_rows: int):
    """``X, y`` (1 = outlier) of a tabular set, or ``None`` when its file is absent."""
    if name == "breast_cancer":
        from sklearn.datasets import load_breast_cancer

        X, y = load_breast_cancer(return_X_y=True)
        return X, (y == 0).astype(int)  # malignant is the minority, the outlier class
    path = data_dir / "odds" / f"{name}.mat"
    if not path.exists():
        return None
    X, y = load_odds(path)
    if name == "shuttle" and len(X) > shuttle_rows:
        from sklearn.model_selection import train_test_split

        # One fixed stratified subsample: every seed and detector sees the same rows.
        X, _, y, _ = train_test_split(X, y, train_size=shuttle_rows, stratify=y, random_state=0)
    return X, y


def _one_class_tasks(name: str, profile: Profile, data_dir: Path, seed: int):
    """Yield ``(class_index, class_name, X_train, X_test, y_test)`` for each normal class.

    Images come as float arrays of shape (n, 1, H, W) in their original
    units; ``y_test`` is 1 for the other classes (anomalies).
    """
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(seed)
    if name == "fashion_mnist":
        if not (data_dir / "FashionMNIST" / "raw").exists():
            return
        X_all, y_all = load_fashion_mnist(data_dir, train=True, download=False)
        X_test_all, y_test_all = load_fashion_mnist(data_dir, train=False, download=False)
        # A fixed stratified test subsample, the same for every class and seed.
        X_test, _, y_test_class, _ = train_test_split(
            X_test_all,
            y_test_all,
            train_size=profile.fashion_test,
            stratify=y_test_all,
            random_state=0,
        )
        names, n_train = FASHION_MNIST_CLASSES, profile.fashion_train_per_class
    elif name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        X_all, X_test, y_all, y_test_class = train_test_split(
            digits.images, digits.target, test_size=0.4, stratify=digits.target, random_state=seed
        )
        names, n_train = [str(d) for d in range(10)], None
    else:
        raise ValueError(f"unknown image set {name!r}")
    classes = profile.image_classes if profile.image_classes is not None else range(10)
    for c in classes:
        members = np.flatnonzero(y_all == c)
        if n_train is not None and len(members) > n_train:
            members = rng.choice(members, size=n_train, replace=False)
        yield (
            c,
            names[c],
            X_all[members].astype(np.float32)[:, None],
            X_test.astype(np.float32)[:, None],
            (y_test_class != c).astype(int),
        )


# ----------------------------------------------------------------------
# Running.
# ----------------------------------------------------------------------
def _fit_and_score(contender, params, seed, device, X_train, X_test):
    """Fit, then score the test set; returns (scores, fit seconds, score seconds)."""
    import torch

    estimator = contender.make(params, seed, device)
    cuda = [torch.cuda.current_device()] if str(device).startswith("cuda") else []
    # PyOD's GANs draw from the global torch RNG: seed it inside a fork so
    # that their runs repeat and nothing leaks into the next contender.
    seeded = contender.seeds_global_torch
    context = torch.random.fork_rng(devices=cuda) if seeded else nullcontext()
    with context, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if seeded:
            torch.manual_seed(seed)
        start = time.perf_counter()
        estimator.fit(X_train)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        scores = contender.anomaly_score(estimator, X_test)
        score_s = time.perf_counter() - start
    return scores, fit_s, score_s


def _evaluate(row, contender, params, seed, device, X_train, X_test, y_test, log):
    """Fit and score one contender, filling ``row`` in place (errors included)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    try:
        scores, fit_s, score_s = _fit_and_score(contender, params, seed, device, X_train, X_test)
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
    data_dir: Path = DEFAULT_DATA_DIR,
    device: str = "auto",
    datasets: Sequence[str] | None = None,
    detectors: Sequence[str] | None = None,
    done: Collection[tuple] = (),
    log: Callable[[str], None] = print,
    on_row: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Run every contender of ``profile`` and return one result row per fit.

    Parameters
    ----------
    profile : Profile
        Data sizes, seeds and detector settings.
    data_dir : path, default=../shared/datasets
        Folder holding ``odds/*.mat`` and ``FashionMNIST/raw``; sets whose
        files are absent are skipped (and reported as such).
    device : str, default="auto"
        Device of every torch model; ``"auto"`` means CUDA when available.
    datasets : sequence of str, default=None
        Only these data sets (names as in ``TABULAR_SETS`` and ``IMAGE_SETS``).
    detectors : sequence of str, default=None
        Only these contenders (names as in the results, e.g. ``"GANomaly (skanomaly)"``).
    done : collection of tuple, default=()
        Keys (see :func:`row_key`) of fits already made, which are skipped:
        how an interrupted run is resumed, or a new detector added.
    log : callable, default=print
        Receives progress lines.
    on_row : callable, default=None
        Called with each finished row (to save partial results).

    Returns
    -------
    rows : list of dict
        Keys: part, dataset, normal_class, class_name, seed, detector,
        family, n_train, n_test, roc_auc, average_precision, fit_s,
        score_s, status, params.
    """
    from pyod.utils.utility import standardizer
    from sklearn.model_selection import train_test_split

    from ._runtime import resolve_device

    device = resolve_device(device)
    data_dir = Path(data_dir)
    everyone = [c for c in contenders() if not detectors or c.name in detectors]
    done = set(done)
    rows: list[dict] = []

    def run(part, dataset, normal_class, class_name, seed, contender, params, data):
        X_train, X_test, y_test = data
        row = _base_row(part, dataset, normal_class, class_name, seed, contender, X_train, X_test)
        if row_key(row) in done:
            return
        _evaluate(row, contender, params, seed, device, X_train, X_test, y_test, log)
        rows.append(row)
        if on_row is not None:
            on_row(row)

    tabular = {}
    for name in profile.tabular_sets:
        if datasets and name not in datasets:
            continue
        data = _load_tabular(name, data_dir, profile.shuttle_rows)
        if data is None:
            log(f"{name}: data not found under {data_dir}, skipped")
            continue
        X, y = data
        log(f"{name}: {X.shape[0]} rows, {X.shape[1]} features, {y.mean():.1%} outliers")
        tabular[name] = X, y
    # Seeds outermost: a run cut short still holds complete seeds.
    for seed in range(profile.tabular_seeds):
        for name, (X, y) in tabular.items():
            X_train, X_test, _, y_test = train_test_split(
                X, y, test_size=0.4, stratify=y, random_state=seed
            )
            X_train, X_test = standardizer(X_train, X_test)
            split = (X_train, X_test, y_test)
            for contender in everyone:
                params = _params_for(contender, profile.ours_tabular, profile.pyod_tabular)
                run("tabular", name, "", "", seed, contender, params, split)
            if seed == 0 and name in profile.defaults_timing:
                # An AnoGAN capped above runs once more at its defaults, for the time target.
                for contender in everyone:
                    capped = _params_for(contender, profile.ours_tabular, profile.pyod_tabular)
                    if "AnoGAN" in contender.name and capped:
                        run("defaults", name, "", "", seed, contender, {}, split)

    image_contenders = [c for c in everyone if c.name in profile.image_contenders]
    for name in profile.image_sets:
        if datasets and name not in datasets:
            continue
        found = False
        for seed in range(profile.image_seeds):
            for c, class_name, X_train, X_test, y_test in _one_class_tasks(
                name, profile, data_dir, seed
            ):
                if not found:
                    log(f"{name}: images {X_train.shape[1:]}, {len(X_test)} test images")
                    found = True
                # PyOD and scikit-learn take rows: flattened pixels in [0, 1].
                high = float(X_train.max()) or 1.0
                as_rows = (
                    X_train.reshape(len(X_train), -1) / high,
                    X_test.reshape(len(X_test), -1) / high,
                    y_test,
                )
                for contender in image_contenders:
                    if contender.name in profile.image_skip.get(name, ()):
                        continue
                    only = profile.image_class_limit.get(name, {}).get(contender.name)
                    if only is not None and c not in only:
                        continue
                    params = _params_for(
                        contender, profile.ours_image.get(name, {}), profile.pyod_image
                    )
                    data = (
                        (X_train, X_test, y_test) if contender.images_as == "arrays" else as_rows
                    )
                    run("image", name, c, class_name, seed, contender, params, data)
        if not found:
            log(f"{name}: data not found under {data_dir}, skipped")
    return rows


def row_key(row: dict) -> tuple:
    """What identifies one fit: part, data set, normal class, seed, detector."""
    return (
        row["part"],
        row["dataset"],
        str(row["normal_class"]),
        int(row["seed"]),
        row["detector"],
    )


def _base_row(part, dataset, normal_class, class_name, seed, contender, X_train, X_test):
    return {
        "part": part,
        "dataset": dataset,
        "normal_class": normal_class,
        "class_name": class_name,
        "seed": seed,
        "detector": contender.name,
        "family": contender.family,
        "n_train": len(X_train),
        "n_test": len(X_test),
    }


# ----------------------------------------------------------------------
# Reporting.
# ----------------------------------------------------------------------
CSV_FIELDS = (
    "part",
    "dataset",
    "normal_class",
    "class_name",
    "seed",
    "detector",
    "family",
    "n_train",
    "n_test",
    "roc_auc",
    "average_precision",
    "fit_s",
    "score_s",
    "status",
    "params",
)


def write_csv(rows: list[dict], path: Path) -> None:
    """One row per fit, in the order they ran."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _csv_value(row.get(key, "")) for key in CSV_FIELDS})


def _csv_value(value):
    return f"{value:.6g}" if isinstance(value, float) else value


def _mean(values) -> float:
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


def _ok(rows):
    return [r for r in rows if r["status"] == "ok"]


_ORDER = (
    *OUR_NAMES,
    "GANomaly-rec (skanomaly)",
    "AnoGAN (PyOD)",
    "ALAD (PyOD)",
    "AutoEncoder (PyOD)",
    "IForest (PyOD)",
    "ECOD (PyOD)",
    "IsolationForest (sklearn)",
    "L1 to median (trivial)",
)


def _detectors(rows):
    """Detector names in a fixed order (ours, then the others), whatever order they ran in."""
    names = dict.fromkeys(r["detector"] for r in rows)
    rank = {name: i for i, name in enumerate(_ORDER)}
    return sorted(names, key=lambda name: rank.get(name, len(rank)))


def tabular_summary(rows: list[dict]) -> dict:
    """Per detector: ``{dataset: (auc mean, auc std, ap mean, fit s, score s)}`` over seeds.

    A dataset where any seed failed has no entry, so means compare like with like.
    """
    rows = [r for r in rows if r["part"] == "tabular"]
    summary: dict[str, dict] = {}
    for detector in _detectors(rows):
        mine = [r for r in rows if r["detector"] == detector]
        summary[detector] = {}
        for dataset in dict.fromkeys(r["dataset"] for r in mine):
            runs = [r for r in mine if r["dataset"] == dataset]
            if any(r["status"] != "ok" for r in runs):
                continue
            aucs = [r["roc_auc"] for r in runs]
            summary[detector][dataset] = (
                float(np.mean(aucs)),
                float(np.std(aucs)),
                _mean(r["average_precision"] for r in runs),
                _mean(r["fit_s"] for r in runs),
                _mean(r["score_s"] for r in runs),
            )
    return summary


def image_summary(rows: list[dict], dataset: str) -> dict:
    """Per detector: ``{class_name: mean AUC over seeds}``."""
    rows = [r for r in rows if r["part"] == "image" and r["dataset"] == dataset]
    summary: dict[str, dict] = {}
    for detector in _detectors(rows):
        mine = [r for r in rows if r["detector"] == detector]
        summary[detector] = {}
        for class_name in dict.fromkeys(r["class_name"] for r in mine):
            runs = [r for r in mine if r["class_name"] == class_name]
            if all(r["status"] == "ok" for r in runs):
                summary[detector][class_name] = _mean(r["roc_auc"] for r in runs)
    return summary


def _mean_over(per_set: dict, keys) -> float:
    """Mean over ``keys``; NaN unless every key is present."""
    keys = list(keys)
    if not keys or any(k not in per_set for k in keys):
        return math.nan
    values = [per_set[k][0] if isinstance(per_set[k], tuple) else per_set[k] for k in keys]
    return float(np.mean(values))


def targets(rows: list[dict], profile: Profile) -> list[tuple[str, str, str]]:
    """The issue's targets as ``(target, measured, verdict)``, computed from ``rows``."""
    tab = tabular_summary(rows)
    sets = list(dict.fromkeys(r["dataset"] for r in rows if r["part"] == "tabular"))
    mean_auc = {d: _mean_over(per, sets) for d, per in tab.items()}
    out = []

    def fmt(x):
        return "n/a" if math.isnan(x) else f"{x:.3f}"

    def verdict(ok: bool | None, why_not_judged: str = "") -> str:
        if ok is None:
            return f"not judged ({why_not_judged})"
        return "**met**" if ok else "**missed**"

    for ours, theirs in (
        ("AnoGAN (skanomaly)", "AnoGAN (PyOD)"),
        ("EGBAD (skanomaly)", "ALAD (PyOD)"),
    ):
        a, b = mean_auc.get(ours, math.nan), mean_auc.get(theirs, math.nan)
        judged = None if math.isnan(a) or math.isnan(b) else a > b
        why = f"{ours} not in this build or failed" if ours not in tab else "a run failed"
        out.append(
            (
                f"{ours} mean tabular ROC-AUC above {theirs}",
                f"{fmt(a)} vs {fmt(b)}",
                verdict(judged, why),
            )
        )

    # Our AnoGAN against PyOD's, each at its defaults, fit for fit on the
    # same splits: the "defaults" rows where the main comparison caps them,
    # else the tabular rows themselves.
    def runs_at_defaults(detector, capped):
        found = [r for r in rows if r["part"] == "defaults" and r["detector"] == detector]
        if not found and not capped:
            found = [r for r in rows if r["part"] == "tabular" and r["detector"] == detector]
        return found

    pyod_defaults = runs_at_defaults(
        "AnoGAN (PyOD)", bool(profile.pyod_tabular.get("AnoGAN (PyOD)"))
    )
    ours_by_split = {
        (r["dataset"], r["seed"]): r
        for r in runs_at_defaults("AnoGAN (skanomaly)", bool(profile.ours_tabular))
    }
    pairs = [(ours_by_split.get((r["dataset"], r["seed"])), r) for r in pyod_defaults]
    if not pyod_defaults:
        t_ours = t_pyod = ratio = math.nan
        judged, why = None, "PyOD AnoGAN was not run at its defaults"
    elif any(o is None or o["status"] != "ok" or p["status"] != "ok" for o, p in pairs):
        t_ours = t_pyod = ratio = math.nan
        judged, why = None, "AnoGAN (skanomaly) missing or a run failed"
    else:
        t_ours = sum(o["fit_s"] + o["score_s"] for o, _ in pairs)
        t_pyod = sum(p["fit_s"] + p["score_s"] for _, p in pairs)
        ratio = t_pyod / t_ours
        judged, why = ratio >= 10, ""
    where = ", ".join(sorted({f"{p['dataset']} seed {p['seed']}" for _, p in pairs})) or "–"
    out.append(
        (
            "AnoGAN (skanomaly) total time (fit + score) at least 10x below "
            "PyOD AnoGAN at its defaults",
            f"{fmt(t_ours)} s vs {fmt(t_pyod)} s ({_f(ratio, 1)}x; {where})",
            verdict(judged, why),
        )
    )

    ours_means = {d: m for d, m in mean_auc.items() if d.endswith("(skanomaly)")}
    best = max(
        ours_means, key=lambda d: -1 if math.isnan(ours_means[d]) else ours_means[d], default=None
    )
    best_auc = ours_means.get(best, math.nan) if best else math.nan
    iforest = mean_auc.get("IsolationForest (sklearn)", math.nan)
    judged = None if math.isnan(best_auc) or math.isnan(iforest) else best_auc >= iforest - 0.02
    out.append(
        (
            "best skanomaly detector within 0.02 mean tabular ROC-AUC of IsolationForest",
            f"{best}: {fmt(best_auc)} vs IsolationForest {fmt(iforest)} "
            f"(difference {fmt(best_auc - iforest)})",
            verdict(judged, "a run failed"),
        )
    )

    fashion = image_summary(rows, "fashion_mnist")
    classes = list(dict.fromkeys(r["class_name"] for r in rows if r["dataset"] == "fashion_mnist"))
    f_means = {d: _mean_over(per, classes) for d, per in fashion.items()}
    ours_f = {d: m for d, m in f_means.items() if d.endswith("(skanomaly)") and not math.isnan(m)}
    best_f = max(ours_f, key=ours_f.get, default=None)
    ae = f_means.get("AutoEncoder (PyOD)", math.nan)
    if best_f is None or math.isnan(ae):
        judged, why = None, "Fashion-MNIST part not run or failed"
    elif len(classes) < 10:
        judged, why = None, f"only {len(classes)} of 10 classes in this profile"
    else:
        judged, why = ours_f[best_f] >= 0.85 and ours_f[best_f] > ae, ""
    out.append(
        (
            "Fashion-MNIST one-class: best skanomaly detector mean ROC-AUC >= 0.85 and above "
            "the PyOD AutoEncoder baseline",
            f"{best_f}: {fmt(ours_f.get(best_f, math.nan))} vs AutoEncoder {fmt(ae)}",
            verdict(judged, why),
        )
    )
    return out


def machine_description(device: str) -> dict:
    """What ran the benchmark, for the report."""
    import pyod
    import sklearn
    import torch

    import skanomaly

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if "model name" in line)
    except (OSError, StopIteration):
        pass
    info = {
        "cpu": f"{cpu}, {os.cpu_count()} logical cores",
        "torch threads": str(torch.get_num_threads()),
        "device": device,
        "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else "none used",
        "python": platform.python_version(),
        "versions": f"skanomaly {skanomaly.__version__}, torch {torch.__version__}, "
        f"PyOD {pyod.__version__}, scikit-learn {sklearn.__version__}",
        "platform": platform.platform(),
    }
    if hasattr(os, "getloadavg"):
        info["load average at start (1 min)"] = f"{os.getloadavg()[0]:.1f}"
    return info


def _table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def _f(x: float, digits: int = 3) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def markdown_report(rows: list[dict], profile: Profile, runs: list[dict]) -> str:
    """The results page: how it was run, the targets, then the tables.

    ``runs`` lists the invocations that made ``rows`` (a resumed run has
    several), each a dict with ``command``, ``started``, ``wall_s`` and
    ``machine``.
    """
    machine = runs[-1]["machine"]
    minutes = sum(run["wall_s"] for run in runs) / 60
    parts = [
        "# Benchmark results",
        "",
        f"Profile **{profile.name}**, {minutes:.1f} minutes in all, made by:",
        "",
        "```",
        *(f"{run['command']}    # {run['started']}, {run['wall_s'] / 60:.1f} min" for run in runs),
        "```",
        "",
        _table(["machine", ""], [[k, v] for k, v in machine.items()]),
        "",
        "Timings are wall-clock seconds on this machine. "
        + (
            "Torch models ran on the GPU; the tree-based and ECOD detectors on the CPU."
            if machine["device"].startswith("cuda")
            else "The CPU was shared with other jobs (see the load average), so they are "
            "noisy: compare them within this run, not across machines."
        ),
        "",
        "## Targets",
        "",
        _table(["target", "measured", "verdict"], targets(rows, profile)),
        "",
    ]
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        parts += ["Failed fits (left out of the means):", ""]
        parts += [
            f"- {r['detector']} on {r['dataset']} {r['class_name']} seed {r['seed']}: "
            f"{r['status']}"
            for r in failed
        ]
        parts.append("")

    tab = tabular_summary(rows)
    sets = list(dict.fromkeys(r["dataset"] for r in rows if r["part"] == "tabular"))
    if sets:
        n_seeds = len({r["seed"] for r in rows if r["part"] == "tabular"})
        sizes = {
            r["dataset"]: f"{r['dataset']} ({r['n_train']}+{r['n_test']})"
            for r in rows
            if r["part"] == "tabular"
        }
        auc_rows, ap_rows, time_rows = [], [], []
        for detector, per in tab.items():
            auc_rows.append(
                [detector]
                + [f"{per[s][0]:.3f} ± {per[s][1]:.3f}" if s in per else "–" for s in sets]
                + [_f(_mean_over(per, sets))]
            )
            ap_rows.append(
                [detector]
                + [_f(per[s][2]) if s in per else "–" for s in sets]
                + [
                    _f(
                        float(np.mean([per[s][2] for s in sets]))
                        if all(s in per for s in sets)
                        else math.nan
                    )
                ]
            )
            time_rows.append(
                [detector]
                + [f"{per[s][3]:.2f} / {per[s][4]:.2f}" if s in per else "–" for s in sets]
            )
        header = ["detector"] + [sizes[s] for s in sets]
        parts += [
            "## Tabular data",
            "",
            f"PyOD's protocol: 60/40 stratified split (train + test rows in brackets), features "
            f"standardised on the training part, fit on the contaminated training part; "
            f"{n_seeds} seed(s). Settings: skanomaly {_settings(profile.ours_tabular)}, PyOD "
            f"{_settings(profile.pyod_tabular)}.",
            "",
            "### ROC-AUC (mean ± std over seeds)",
            "",
            _table([*header, "mean"], auc_rows),
            "",
            "### Average precision",
            "",
            _table([*header, "mean"], ap_rows),
            "",
            "### Seconds: fit / score (mean over seeds)",
            "",
            _table(header, time_rows),
            "",
        ]
        defaults = [r for r in rows if r["part"] == "defaults"]
        if defaults:
            parts += [
                "AnoGAN at its defaults where the runs above cap it (PyOD: 500 epochs and "
                "20 latent steps per training row), for the time target:",
                "",
                _table(
                    ["detector", "data set", "seed", "ROC-AUC", "fit s", "score s", "status"],
                    [
                        [
                            r["detector"],
                            r["dataset"],
                            str(r["seed"]),
                            _f(r["roc_auc"]),
                            _f(r["fit_s"], 1),
                            _f(r["score_s"], 1),
                            r["status"],
                        ]
                        for r in defaults
                    ],
                ),
                "",
            ]
    for dataset, title in (("fashion_mnist", "Fashion-MNIST"), ("digits", "Digits (8×8)")):
        summary = image_summary(rows, dataset)
        if not summary:
            continue
        mine = [r for r in rows if r["dataset"] == dataset]
        classes = list(dict.fromkeys(r["class_name"] for r in mine))
        n_seeds = len({r["seed"] for r in mine})
        n_train = sorted({r["n_train"] for r in mine})
        sizes = f"{n_train[0]}" if len(n_train) == 1 else f"{n_train[0]}–{n_train[-1]}"
        times = {
            d: _mean(r["fit_s"] + r["score_s"] for r in mine if r["detector"] == d)
            for d in summary
        }
        ours = _settings(profile.ours_image.get(dataset, {}))
        body = [
            [detector]
            + [_f(per.get(c, math.nan)) for c in classes]
            + [_f(_mean_over(per, classes)), _f(times[detector], 1)]
            for detector, per in summary.items()
        ]
        parts += [
            f"## {title}, one class normal in turn",
            "",
            f"ROC-AUC per normal class, {n_seeds} seed(s); {sizes} "
            f"training images of the normal class, {mine[0]['n_test']} test images of all "
            f"classes. skanomaly settings: {ours}; PyOD: {_settings(profile.pyod_image)}. "
            "Last column: mean seconds per class (fit + score)."
            + (
                f" Left out of this set by the profile: {', '.join(skipped)}."
                if (skipped := profile.image_skip.get(dataset))
                else ""
            ),
            "",
            _table(["detector", *classes, "mean", "s / class"], body),
            "",
        ]
    parts += [
        "## Plots",
        "",
        "![ROC-AUC per detector and data set](auc_per_dataset.png)",
        "",
        "![Time against ROC-AUC](time_vs_auc.png)",
        "",
    ]
    return "\n".join(parts)


def _settings(params: dict) -> str:
    return f"`{params}`" if params else "library defaults"


def plot_results(rows: list[dict], out_dir: Path) -> None:
    """``auc_per_dataset.png`` (grouped bars) and ``time_vs_auc.png`` (scatter)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tab = tabular_summary(rows)
    columns: dict[str, dict[str, float]] = {}
    for detector, per in tab.items():
        for dataset, stats in per.items():
            columns.setdefault(dataset, {})[detector] = stats[0]
    for dataset in IMAGE_SETS:
        summary = image_summary(rows, dataset)
        classes = list(dict.fromkeys(r["class_name"] for r in rows if r["dataset"] == dataset))
        for detector, per in summary.items():
            mean = _mean_over(per, classes)
            if not math.isnan(mean):
                columns.setdefault(f"{dataset}\n(mean)", {})[detector] = mean
    detectors = _detectors(rows)
    colours = plt.get_cmap("tab10")

    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(columns) + 2), 4.5))
    width = 0.8 / max(1, len(detectors))
    for i, detector in enumerate(detectors):
        xs = [j + i * width for j, col in enumerate(columns) if detector in columns[col]]
        ys = [columns[col][detector] for col in columns if detector in columns[col]]
        ax.bar(xs, ys, width, label=detector, color=colours(i % 10))
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(columns))], list(columns))
    ax.set_ylabel("ROC-AUC (test)")
    ax.set_ylim(0, 1)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.legend(fontsize=7, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    ax.set_title("ROC-AUC per detector and data set")
    fig.tight_layout()
    fig.savefig(out_dir / "auc_per_dataset.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for part, marker in (("tabular", "o"), ("image", "s")):
        for i, detector in enumerate(detectors):
            runs = [r for r in _ok(rows) if r["part"] == part and r["detector"] == detector]
            if not runs:
                continue
            seconds = _mean(r["fit_s"] + r["score_s"] for r in runs)
            auc = _mean(r["roc_auc"] for r in runs)
            ax.scatter(seconds, auc, marker=marker, color=colours(i % 10), s=50)
            ax.annotate(
                detector, (seconds, auc), fontsize=6, xytext=(4, 2), textcoords="offset points"
            )
    ax.set_xscale("log")
    ax.set_xlabel("mean seconds per fit + score (log scale)")
    ax.set_ylabel("mean ROC-AUC")
    ax.set_title("Time against ROC-AUC (circles: tabular, squares: images)")
    fig.tight_layout()
    fig.savefig(out_dir / "time_vs_auc.png", dpi=120)
    plt.close(fig)


def read_csv(path: Path) -> list[dict]:
    """Rows of a ``results.csv`` with numbers as numbers (to redo the report)."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for key in ("roc_auc", "average_precision", "fit_s", "score_s"):
            row[key] = float(row[key])
        for key in ("seed", "n_train", "n_test"):
            row[key] = int(row[key])
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python benchmarks/run_benchmark.py [--quick] [--output DIR]``."""
    parser = argparse.ArgumentParser(
        description="Benchmark skanomaly against PyOD and scikit-learn detectors."
    )
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (under a minute)")
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        help="settings to use; default: quick with --quick, else full (full-gpu on a GPU)",
    )
    parser.add_argument("--output", type=Path, default=Path("docs/benchmark"))
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--device", default="auto", help='torch device, default "auto"')
    parser.add_argument(
        "--datasets", nargs="+", choices=TABULAR_SETS + IMAGE_SETS, help="only these data sets"
    )
    parser.add_argument(
        "--detectors", nargs="+", metavar="NAME", help='only these, e.g. "GANomaly (skanomaly)"'
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads for every model (default 1: small networks gain "
        "nothing from more, and spin-waiting threads slow everyone on a shared CPU)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the successful fits already in OUTPUT/results.csv and run only the others",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the report from OUTPUT/results.csv"
    )
    args = parser.parse_args(argv)

    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _main(args, sys.argv[1:] if argv is None else argv)
    finally:
        torch.set_num_threads(threads)


def _main(args, argv) -> int:
    from ._runtime import resolve_device

    device = resolve_device(args.device)
    name = args.profile or (
        "quick" if args.quick else ("full-gpu" if device.startswith("cuda") else "full")
    )
    profile = PROFILES[name]
    out_dir = args.output
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, runs_path, log_path = (
        out_dir / "results.csv",
        out_dir / "runs.json",
        out_dir / "log.txt",
    )
    keep = args.resume or args.report_only
    rows = read_csv(csv_path) if keep and csv_path.exists() else []
    runs = json.loads(runs_path.read_text()) if keep and runs_path.exists() else []
    if args.report_only:
        _write_report(rows, profile, runs, out_dir)
        return 0
    rows = [r for r in rows if r["status"] == "ok"]  # failed fits are tried again
    if not args.resume:
        log_path.write_text("")

    def log(line: str) -> None:
        print(line, flush=True)
        with open(log_path, "a") as handle:
            handle.write(line + "\n")

    def save_partial(row):
        rows.append(row)
        write_csv(rows, csv_path)

    command = "python benchmarks/run_benchmark.py " + " ".join(shlex.quote(a) for a in argv)
    run = {
        "command": command.strip(),
        "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_description(device),
    }
    log(f"profile {name}: {asdict(profile)}")
    log(f"machine: {run['machine']}")
    start = time.perf_counter()
    try:
        run_benchmark(
            profile,
            data_dir=args.data_dir,
            device=device,
            datasets=args.datasets,
            detectors=args.detectors,
            done={row_key(r) for r in rows},
            log=log,
            on_row=save_partial,
        )
    finally:
        run["wall_s"] = time.perf_counter() - start
        runs.append(run)
        runs_path.write_text(json.dumps(runs, indent=1))
        log(f"done in {run['wall_s'] / 60:.1f} minutes")
    write_csv(rows, csv_path)
    _write_report(rows, profile, runs, out_dir)
    print(f"wrote {csv_path}, {out_dir / 'results.md'} and plots")
    return 0


def _write_report(rows, profile, runs, out_dir):
    (out_dir / "results.md").write_text(markdown_report(rows, profile, runs))
    plot_results(rows, out_dir)
