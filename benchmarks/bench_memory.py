"""Peak memory of scoring many rows: does scoring stream in batches?

Fits a small GANomaly detector, then scores ``--rows`` new rows in a fresh
process and reports how much the process's memory grew while scoring,
beside the size of the input itself.  The same is measured with the whole
input pushed through the networks as one batch, the way a naive
implementation would, to show what the batching saves.

Memory is the resident set size (RSS, via psutil, which comes with
``dask[distributed]``), sampled every half millisecond by a
thread during the call (torch's CPU allocations are invisible to
``tracemalloc``), and numpy's own peak from ``tracemalloc``.

Usage::

    python benchmarks/bench_memory.py                       # 100,000 rows x 30 features
    python benchmarks/bench_memory.py --images --rows 20000  # 28x28 grey images
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import threading
import time
import tracemalloc

import numpy as np

MB = 2**20


def _data(shape, seed):
    return np.random.default_rng(seed).normal(size=shape)


class _PeakRSS(threading.Thread):
    """Sample this process's RSS until stopped; keep the maximum."""

    def __init__(self):
        import psutil

        super().__init__(daemon=True)
        self.process = psutil.Process()
        self.peak = self.process.memory_info().rss
        self.running = True

    def run(self):
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.0005)

    def stop(self):
        self.running = False
        self.join()
        return self.peak


def _measure(model_path, shape, threads, one_batch, queue):
    """In a fresh process: load the model, score, report memory growth."""
    import torch

    import skanomaly

    torch.set_num_threads(threads)
    detector = skanomaly.load(model_path)
    X = _data(shape, seed=1)
    detector.score_samples(X[:2000])  # warm up torch's allocator and kernels
    if one_batch:  # the naive way: every row's activations at once
        detector._score_batch_rows = lambda: len(X)
    sampler = _PeakRSS()
    baseline = sampler.process.memory_info().rss
    tracemalloc.start()
    sampler.start()
    start = time.perf_counter()
    scores = detector.score_samples(X)
    seconds = time.perf_counter() - start
    peak_rss = sampler.stop()
    _, numpy_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert np.all(np.isfinite(scores))
    queue.put(
        {
            "input_mb": X.nbytes / MB,
            "rss_growth_mb": (peak_rss - baseline) / MB,
            "tracemalloc_peak_mb": numpy_peak / MB,
            "seconds": seconds,
            "batch_rows": len(X) if one_batch else detector._score_batch_rows(),
        }
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--images", action="store_true", help="28x28 grey images instead")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--skip-one-batch", action="store_true", help="skip the naive run")
    args = parser.parse_args(argv)

    import torch

    import skanomaly

    torch.set_num_threads(args.threads)
    shape = (args.rows, 1, 28, 28) if args.images else (args.rows, args.features)
    train = _data((2000, *shape[1:]), seed=0)
    params = {"n_filters": 16} if args.images else {}
    detector = skanomaly.GANomalyDetector(n_epochs=1, random_state=0, device="cpu", **params).fit(
        train
    )
    kind = "images 1x28x28" if args.images else f"{args.features} features"
    print(f"GANomalyDetector, {args.rows:,} rows of {kind}, torch threads: {args.threads}")

    context = mp.get_context("spawn")  # a clean process: memory not shared with the fit
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.skan")
        skanomaly.save(detector, path)
        modes = [False] if args.skip_one_batch else [False, True]
        for one_batch in modes:
            queue = context.Queue()
            worker = context.Process(
                target=_measure, args=(path, shape, args.threads, one_batch, queue)
            )
            worker.start()
            result = queue.get()
            worker.join()
            name = "one batch (naive)" if one_batch else "streamed (skanomaly)"
            print(
                f"{name:>22}: input {result['input_mb']:7.1f} MB, "
                f"peak RSS growth {result['rss_growth_mb']:7.1f} MB "
                f"({result['rss_growth_mb'] / result['input_mb']:.2f} x input), "
                f"numpy peak {result['tracemalloc_peak_mb']:6.1f} MB, "
                f"{result['batch_rows']:,} rows per batch, {result['seconds']:.2f} s"
            )


if __name__ == "__main__":
    main()
