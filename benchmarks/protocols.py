"""What the benchmark runs: profiles, data sets and their splits.

- **tabular** (PyOD's protocol): ODDS ``breastw``, ``glass`` and ``shuttle``
  (a fixed stratified subsample) and scikit-learn's breast cancer
  (malignant = outlier); a 60/40 stratified split per seed, features
  standardised on the training part, every detector fitted on the
  contaminated training part;
- **ADBench** (Han et al., NeurIPS 2022, profile ``adbench``): the 14
  "Classical" sets of ``adbench/*.npz`` in the data folder; a 70/30
  stratified split per seed, the training part capped at 10,000 rows (a
  stratified subsample), features standardised on it, every detector fitted
  on the contaminated training part;
- **images** (one class normal in turn): each class of Fashion-MNIST and of
  scikit-learn's digits is the normal class; train on (a subsample of) that
  class's training images, test on a fixed test subsample where every other
  class is anomalous.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from skanomaly.datasets import (
    FASHION_MNIST_CLASSES,
    load_fashion_mnist,
    load_odds,
    one_class_split,
)

TABULAR_SETS = ("breastw", "glass", "shuttle", "breast_cancer")
# ADBench's numbering of the shared sets: the files are ``adbench/{n}_{name}.npz``.
ADBENCH_FILES = {
    "annthyroid": "2_annthyroid",
    "breastw": "4_breastw",
    "fault": "12_fault",
    "glass": "14_glass",
    "letter": "20_letter",
    "mammography": "23_mammography",
    "musk": "25_musk",
    "optdigits": "26_optdigits",
    "PageBlocks": "27_PageBlocks",
    "shuttle": "32_shuttle",
    "Stamps": "37_Stamps",
    "vowels": "40_vowels",
    "WBC": "42_WBC",
    "yeast": "47_yeast",
}
ADBENCH_SETS = tuple(f"adbench/{name}" for name in ADBENCH_FILES)
IMAGE_SETS = ("fashion_mnist", "digits")
OURS = ("AnoGAN (skanomaly)", "EGBAD (skanomaly)", "GANomaly (skanomaly)")
# The non-GAN contenders every profile runs on the images.
IMAGE_BASELINES = ("AutoEncoder (PyOD)", "IsolationForest (sklearn)")


@dataclass(frozen=True)
class Profile:
    """Sizes and settings of one benchmark run.

    ``ours_tabular`` holds constructor parameters of the skanomaly detectors,
    ``ours_image`` the same per image set; ``pyod_tabular`` and
    ``pyod_image`` map a contender's name to its parameters. An empty dict
    means the library's defaults. ``image_class_limit`` maps an image set to
    ``{contender: classes}`` for contenders run on some classes only.
    ``tabular_protocol`` is ``"pyod"`` (60/40) or ``"adbench"`` (70/30, at
    most ``max_train_rows`` training rows); ``tabular_contenders`` names the
    contenders of the tabular part (all of them when empty). The tabular
    seeds are ``tabular_first_seed`` and the ``tabular_seeds - 1`` after it.
    """

    name: str
    tabular_sets: tuple[str, ...] = TABULAR_SETS
    tabular_seeds: int = 3
    tabular_first_seed: int = 0
    tabular_protocol: str = "pyod"
    max_train_rows: int | None = None
    tabular_contenders: tuple[str, ...] = ()
    shuttle_rows: int = 5000
    ours_tabular: dict = field(default_factory=dict)
    pyod_tabular: dict = field(default_factory=dict)
    image_sets: tuple[str, ...] = IMAGE_SETS
    image_seeds: int = 1
    image_classes: tuple[int, ...] | None = None
    fashion_train_per_class: int = 500
    fashion_test: int = 1000
    ours_image: dict = field(default_factory=dict)
    pyod_image: dict = field(default_factory=dict)
    image_contenders: tuple[str, ...] = ()
    image_class_limit: dict = field(default_factory=dict)


PROFILES = {
    # Without a GPU. Tabular: every detector at its defaults except PyOD's
    # AnoGAN, capped at 50 epochs and 5 latent steps (at its defaults it
    # searches a latent code per training row, one row at a time). Images:
    # narrowed networks trained about as many optimiser steps as the
    # defaults; skanomaly's AnoGAN (a latent search per test image) on three
    # Fashion-MNIST classes only.
    "full": Profile(
        name="full",
        shuttle_rows=1000,
        pyod_tabular={"AnoGAN (PyOD)": {"epochs": 50, "epochs_query": 5}},
        ours_image={
            "fashion_mnist": {"n_epochs": 75, "n_filters": 16},
            "digits": {"n_filters": 32},
        },
        image_contenders=(*OURS, *IMAGE_BASELINES, "L1 to median (trivial)"),
        image_class_limit={"fashion_mnist": {"AnoGAN (skanomaly)": (0, 1, 7)}},
    ),
    # With a GPU: every tabular detector at its defaults, more images, the
    # default image networks and the PyOD GANs on the images too (capped).
    "full-gpu": Profile(
        name="full-gpu",
        image_seeds=3,
        fashion_train_per_class=2000,
        fashion_test=5000,
        ours_image={"fashion_mnist": {"n_epochs": 50}, "digits": {}},
        pyod_image={
            "AnoGAN (PyOD)": {"epochs": 50, "epochs_query": 20},
            "ALAD (PyOD)": {"epochs": 50},
        },
        image_contenders=(*OURS, "AnoGAN (PyOD)", "ALAD (PyOD)", *IMAGE_BASELINES),
    ),
    # ADBench's protocol on its 14 shared "Classical" sets, every detector at
    # its defaults except PyOD's AnoGAN, capped as in "full" (at its defaults
    # it searches a code for every test row, one row at a time); no images.
    "adbench": Profile(
        name="adbench",
        tabular_sets=ADBENCH_SETS,
        tabular_protocol="adbench",
        max_train_rows=10_000,
        tabular_contenders=(
            *OURS,
            "IsolationForest (sklearn)",
            "KNN (PyOD)",
            "ECOD (PyOD)",
            "LOF (PyOD)",
            "AutoEncoder (PyOD)",
            "AnoGAN (PyOD)",
            "L1 to median (trivial)",
        ),
        pyod_tabular={"AnoGAN (PyOD)": {"epochs": 50, "epochs_query": 5}},
        image_sets=(),
    ),
    # A smoke test: every code path, tiny data, a few steps.
    "quick": Profile(
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
        pyod_image={"AutoEncoder (PyOD)": {"epoch_num": 1}},
        image_contenders=("GANomaly (skanomaly)", *IMAGE_BASELINES),
    ),
}


def tabular_path(name: str, data_dir: Path) -> Path | None:
    """The file a tabular set is read from (``None`` for scikit-learn's breast cancer)."""
    if name.startswith("adbench/"):
        return Path(data_dir) / "adbench" / f"{ADBENCH_FILES[name.split('/', 1)[1]]}.npz"
    return None if name == "breast_cancer" else Path(data_dir) / "odds" / f"{name}.mat"


def load_tabular(name: str, data_dir: Path, shuttle_rows: int):
    """``X, y`` (1 = outlier) of a tabular set, or ``None`` when its file is absent."""
    if name.startswith("adbench/"):
        path = tabular_path(name, data_dir)
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as data:
            return data["X"].astype(np.float64), data["y"].astype(int)
    if name == "breast_cancer":
        from sklearn.datasets import load_breast_cancer

        X, y = load_breast_cancer(return_X_y=True)
        return X, (y == 0).astype(int)  # malignant is the minority, the outlier class
    path = Path(data_dir) / "odds" / f"{name}.mat"
    if not path.is_file():
        return None
    X, y = load_odds(path)
    if name == "shuttle" and len(X) > shuttle_rows:
        # One fixed stratified subsample: every seed and detector sees the same rows.
        X, _, y, _ = train_test_split(X, y, train_size=shuttle_rows, stratify=y, random_state=0)
    return X, y


def tabular_split(X, y, seed: int, *, protocol: str = "pyod", max_train_rows: int | None = None):
    """A split of one seed, standardised on its training part.

    ``protocol="pyod"``: 60/40 stratified; ``"adbench"``: 70/30 stratified,
    then at most ``max_train_rows`` training rows (a stratified subsample,
    anomalies kept in their share). Returns ``X_train, X_test, y_test``.
    """
    from pyod.utils.utility import standardizer

    test_size = {"pyod": 0.4, "adbench": 0.3}[protocol]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, stratify=y, random_state=seed
    )
    if max_train_rows is not None and len(X_train) > max_train_rows:
        X_train, _ = train_test_split(
            X_train, train_size=max_train_rows, stratify=y_train, random_state=seed
        )
    X_train, X_test = standardizer(X_train, X_test)
    return X_train, X_test, y_test


def has_images(name: str, data_dir: Path) -> bool:
    """Whether the files of an image set are there (digits comes with scikit-learn)."""
    return name == "digits" or (Path(data_dir) / "FashionMNIST" / "raw").is_dir()


def one_class_tasks(name: str, profile: Profile, data_dir: Path, seed: int):
    """Yield ``(class_index, class_name, X_train, X_test, y_test)`` per normal class.

    Images are float32 arrays of shape (n, 1, H, W) in their original units;
    ``y_test`` is 1 for the other classes (anomalies). Call
    :func:`has_images` first: a missing Fashion-MNIST raises.
    """
    rng = np.random.default_rng(seed)
    if name == "fashion_mnist":
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
        X_fit, X_eval, y_eval = one_class_split(X_all, y_all, X_test, y_test_class, c)
        if n_train is not None and len(X_fit) > n_train:
            X_fit = X_fit[rng.choice(len(X_fit), size=n_train, replace=False)]
        yield (
            c,
            names[c],
            X_fit.astype(np.float32)[:, None],
            X_eval.astype(np.float32)[:, None],
            y_eval.astype(int),
        )
