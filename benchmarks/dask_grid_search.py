"""Hyper-parameter search over a skanomaly detector on a Dask cluster.

``GridSearchCV(..., n_jobs=-1)`` inside ``joblib.parallel_backend("dask")``:
joblib hands each (parameters, fold) fit to the Dask scheduler, which runs
it on a worker.  Without ``--scheduler`` a ``LocalCluster`` of worker
processes is started here; with ``--scheduler tcp://host:8786`` the same
code runs on an existing (multi-machine) cluster.  Prints the workers, the
torch threads and device each worker uses, the wall time and the best
parameters.

Usage::

    python benchmarks/dask_grid_search.py --workers 2
    python benchmarks/dask_grid_search.py --scheduler tcp://scheduler:8786 --device auto
"""

from __future__ import annotations

import argparse
import os
import time

import joblib
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold


def roc_auc(estimator, X, y):
    """Scorer: ROC-AUC of the anomaly score (y = 1 for outliers)."""
    return roc_auc_score(y, -estimator.score_samples(X))


def worker_info():
    """Runs on each worker: what torch sees there."""
    import torch

    return {
        "pid": os.getpid(),
        "torch_threads": torch.get_num_threads(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "gpus": torch.cuda.device_count(),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheduler", help="address of a running Dask scheduler")
    parser.add_argument("--workers", type=int, default=2, help="local worker processes")
    parser.add_argument("--threads-per-worker", type=int, default=1)
    parser.add_argument("--device", default="cpu", help='"auto" to use each worker\'s GPU')
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args(argv)

    from distributed import Client, LocalCluster

    from skanomaly import GANomalyDetector

    # Breast cancer: fit on the (contaminated) data, score ROC-AUC on held-out folds.
    X, y = load_breast_cancer(return_X_y=True)
    y = (y == 0).astype(int)  # malignant = outlier
    search = GridSearchCV(
        GANomalyDetector(n_epochs=args.epochs, device=args.device, random_state=0),
        {"latent_dim": [4, 8], "learning_rate": [2e-4, 1e-3], "con_weight": [10.0, 50.0]},
        scoring=roc_auc,
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        n_jobs=-1,
    )
    if args.scheduler:
        cluster = None
        client = Client(args.scheduler)
    else:
        cluster = LocalCluster(
            n_workers=args.workers,
            threads_per_worker=args.threads_per_worker,
            processes=True,
            dashboard_address=None,
        )
        client = Client(cluster)
    try:
        if cluster is not None:
            client.wait_for_workers(args.workers)
        for address, info in client.run(worker_info).items():
            print(f"worker {address}: {info}")
        start = time.perf_counter()
        with joblib.parallel_backend("dask"):
            search.fit(X, y)
        seconds = time.perf_counter() - start
        n_fits = len(search.cv_results_["params"]) * search.n_splits_
        print(
            f"{n_fits} fits on {len(client.scheduler_info()['workers'])} workers "
            f"in {seconds:.1f} s; best ROC-AUC {search.best_score_:.3f} "
            f"with {search.best_params_}"
        )
        results = search.cv_results_
        for params, score in zip(results["params"], results["mean_test_score"], strict=True):
            print(f"  {score:.3f}  {params}")
        return search
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
