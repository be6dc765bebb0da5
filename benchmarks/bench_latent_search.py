"""AnoGAN's batched latent search against a per-row loop, and EGBAD against AnoGAN.

1. Fit AnoGAN, then score the same rows twice with the same number of
   search steps: once batched (one ``z`` tensor for up to 1,024 rows, what
   ``score_samples`` does) and once one row at a time.  The scores must agree
   to float32 tolerance; the speed ratio is printed.
2. Score the rows with EGBAD (one forward pass) and with AnoGAN at its
   default ``latent_steps``; the speed ratio is printed.

Run from the repository root (about two minutes on two CPU cores)::

    python benchmarks/bench_latent_search.py
    python benchmarks/bench_latent_search.py --data digits --rows 500 --steps 20
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_digits

from skanomaly import AnoGANDetector, EGBADDetector


def make_rows(data: str, n_rows: int, rng: np.random.Generator):
    """Training data and ``n_rows`` rows to score (resampled with jitter)."""
    if data == "digits":
        X = load_digits().data.reshape(-1, 1, 8, 8)
    else:
        X = load_breast_cancer().data
    rows = X[rng.integers(len(X), size=n_rows)]
    rows = rows + 0.05 * X.std(axis=0) * rng.normal(size=rows.shape)
    return X, rows


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=["breast_cancer", "digits"], default="breast_cancer")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=50, help="search steps for the comparison")
    parser.add_argument("--n-epochs", type=int, default=20, help="training is not measured")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    X_train, rows = make_rows(args.data, args.rows, rng)
    common = {"n_epochs": args.n_epochs, "random_state": 0, "device": "cpu"}
    print(
        f"{args.data}: {len(X_train)} training rows, {args.rows} rows to score, "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads"
    )

    anogan = AnoGANDetector(latent_steps=args.steps, **common).fit(X_train)
    data = anogan._to_tensor(anogan._validate_input(rows, reset=False)[0])
    batched, batched_s = timed(anogan._score_tensor, data)
    looped, looped_s = timed(
        lambda: np.concatenate([anogan._score_tensor(data[i : i + 1]) for i in range(len(data))])
    )
    difference = np.abs(batched - looped)
    print(f"AnoGAN search, {args.steps} steps, batched vs one row at a time:")
    print(f"  batched {batched_s:8.2f} s   per-row loop {looped_s:8.2f} s   ", end="")
    print(f"speed-up {looped_s / batched_s:6.1f}x")
    print(
        f"  max |score difference| {difference.max():.2e} "
        f"(max relative {np.max(difference / np.abs(looped)):.2e}); "
        f"equal within rtol=1e-5: {np.allclose(batched, looped, rtol=1e-5, atol=1e-7)}"
    )

    anogan.set_params(latent_steps=AnoGANDetector().latent_steps)
    _, anogan_s = timed(anogan.score_samples, rows)
    egbad = EGBADDetector(**common).fit(X_train)
    egbad.score_samples(rows[:10])  # warm-up, as AnoGAN's kernels are warm already
    _, egbad_s = timed(egbad.score_samples, rows)
    print(f"score_samples on {args.rows} rows with default settings:")
    print(
        f"  AnoGAN ({anogan.latent_steps} steps) {anogan_s:8.2f} s   EGBAD {egbad_s:8.3f} s   "
        f"EGBAD is {anogan_s / egbad_s:6.0f}x faster"
    )


if __name__ == "__main__":
    main()
