"""Scale-out: thread limits for concurrent fits, and grid search on Dask."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from .conftest import fast

_rng = np.random.default_rng(0)
X = np.r_[_rng.normal(size=(80, 4)), _rng.uniform(4, 6, size=(8, 4))]
y = np.r_[np.zeros(80), np.ones(8)]  # 1 = outlier, for scoring only
# Image models keep torch's thread count in the main thread (tabular ones use one).
IMAGES = _rng.normal(size=(32, 1, 8, 8))


def _auc(estimator, X, y):
    return roc_auc_score(y, -estimator.score_samples(X))


@pytest.fixture
def two_torch_threads():
    """Give the main thread two torch threads (also on a one-core machine)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def _record_threads(monkeypatch, cls):
    seen = []
    for hook in ("_train_step", "_anomaly_score"):
        original = getattr(cls, hook)

        def wrapper(self, *args, _original=original, _hook=hook):
            seen.append((_hook, torch.get_num_threads()))
            return _original(self, *args)

        monkeypatch.setattr(cls, hook, wrapper)
    return seen


def test_image_fits_in_worker_threads_use_one_torch_thread(
    detector_class, monkeypatch, two_torch_threads
):
    seen = _record_threads(monkeypatch, detector_class)

    def fit_and_score():
        before = torch.get_num_threads()
        fast(detector_class, n_filters=2).fit(IMAGES).score_samples(IMAGES)
        return before, torch.get_num_threads()

    with ThreadPoolExecutor(2) as pool:
        results = [pool.submit(fit_and_score) for _ in range(2)]
        results = [future.result() for future in results]
    assert {threads for _, threads in seen} == {1}
    assert {hook for hook, _ in seen} == {"_train_step", "_anomaly_score"}
    # Restored in each worker thread, and the main thread was never touched.
    assert all(before == after for before, after in results)
    assert torch.get_num_threads() == 2


def test_image_fit_in_the_main_thread_keeps_torch_threads(
    detector_class, monkeypatch, two_torch_threads
):
    seen = _record_threads(monkeypatch, detector_class)
    fast(detector_class, n_filters=2).fit(IMAGES)
    assert {threads for _, threads in seen} == {2}
    assert torch.get_num_threads() == 2


def test_concurrent_fits_in_threads_are_reproducible(detector_class):
    # torch's default generator is process-wide: without care, fits running
    # at once in threads draw from each other's random streams.
    def fit_scores(seed):
        return fast(detector_class, hidden_dims=(8,), random_state=seed).fit(X).score_samples(X)

    seeds = [0, 1, 2, 3]
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(fit_scores, seeds))
    for seed, scores in zip(seeds, concurrent, strict=True):
        np.testing.assert_array_equal(scores, fit_scores(seed))


def test_grid_search_on_a_dask_cluster(detector_class):
    distributed = pytest.importorskip("distributed")
    search = GridSearchCV(
        fast(detector_class, hidden_dims=(8,)),
        {"latent_dim": [2, 3], "learning_rate": [1e-4, 1e-3]},
        scoring=_auc,
        cv=StratifiedKFold(2, shuffle=True, random_state=0),
        n_jobs=-1,
    )
    # Small and in-process for the test; benchmarks/dask_grid_search.py
    # runs the same search on worker processes or a remote scheduler.
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        start = time.perf_counter()
        with distributed.get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
            search.fit(X, y)
        seconds = time.perf_counter() - start
        used = {task["worker"] for task in tasks.data}
        workers = set(client.scheduler_info()["workers"])
    print(f"dask grid search: {len(tasks.data)} tasks on {len(used)} workers, {seconds:.1f} s")
    # The fits ran as Dask tasks on the cluster's workers (the scheduler may
    # give short tasks all to one of them).
    assert len(tasks.data) > 0 and used and used <= workers and len(workers) == 2

    # The same search run sequentially (one torch thread, as on the workers)
    # finds the same scores: every fit is seeded locally.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference = GridSearchCV(**{**search.get_params(deep=False), "n_jobs": 1}).fit(X, y)
    finally:
        torch.set_num_threads(previous)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], reference.cv_results_["mean_test_score"]
    )
    assert search.best_params_ == reference.best_params_
    assert np.all(np.isfinite(search.best_estimator_.score_samples(X)))
