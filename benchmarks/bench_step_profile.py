"""Where a training step's time goes: host dispatch, GPU kernels, and syncs.

For each detector and backbone, one training step at steady state is timed
(wall clock, the device synchronised) and profiled with ``torch.profiler``
over ``--steps`` steps: the operators dispatched per step, the kernels
launched per step, the host-device synchronisations per step, and, on a
GPU, the time its kernels ran. A step whose kernels run for a small share
of its wall time is bound by the host (Python and operator dispatch, about
ten microseconds a kernel), not by the GPU's arithmetic: it gains from
fewer, larger kernels (a larger batch, CUDA graphs), not from faster
arithmetic (bfloat16, TF32).

Then two fits that differ in ``n_epochs`` give the milliseconds of a
step inside ``fit`` (its loop, batch indexing and bookkeeping included).

Run it from the repository root::

    python benchmarks/bench_step_profile.py --device cuda --batch-size 256
    python benchmarks/bench_step_profile.py --quick     # tiny: a smoke test
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from skanomaly import AnoGANDetector, EGBADDetector, GANomalyDetector

DETECTORS = {"AnoGAN": AnoGANDetector, "EGBAD": EGBADDetector, "GANomaly": GANomalyDetector}
BACKBONES = ("mlp", "dcgan")
LAUNCHES = ("cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx")
SYNCS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize")


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def make_data(backbone: str, n_rows: int, side: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if backbone == "mlp":
        return rng.normal(size=(n_rows, 30))
    return rng.uniform(size=(n_rows, 1, side, side))


def detector(name: str, backbone: str, args, n_epochs: int = 1):
    params = {"n_epochs": n_epochs, "batch_size": args.batch_size, "device": args.device}
    params.update(n_filters=args.n_filters, random_state=0, n_estimators=1)
    if name == "AnoGAN":
        params["latent_steps"] = 0
    return DETECTORS[name](**params)


def profile_step(name: str, backbone: str, args) -> dict:
    """ms per step, and per step: operators, kernel launches, syncs, GPU kernel ms."""
    model = detector(name, backbone, args)
    model.fit(make_data(backbone, args.batch_size, args.side, 0))
    x = torch.as_tensor(make_data(backbone, args.batch_size, args.side, 1), dtype=torch.float32)
    x = model._fold(x.reshape(len(x), -1) if backbone == "mlp" else x)
    x = x.to(model.device_, memory_format=model._memory_format())
    for network in model._networks().values():
        network.train()
    optimizers = model._make_optimizers()
    with model._threads():
        for _ in range(args.warmup):
            model._train_step(x, optimizers)
        synchronize(args.device)
        start = time.perf_counter()
        for _ in range(args.steps):
            model._train_step(x, optimizers)
        synchronize(args.device)
        wall = (time.perf_counter() - start) / args.steps
        activities = [ProfilerActivity.CPU]
        if args.device.startswith("cuda"):
            activities.append(ProfilerActivity.CUDA)
        with profile(activities=activities) as prof:
            for _ in range(args.steps):
                model._train_step(x, optimizers)
            synchronize(args.device)
    events = prof.key_averages()
    per_step = 1 / args.steps
    kernel_us = sum(
        getattr(e, "self_device_time_total", getattr(e, "self_cuda_time_total", 0))
        for e in events
        if e.device_type == torch.autograd.DeviceType.CUDA
    )
    ops = sum(e.count for e in events if e.key.startswith("aten::"))
    return {
        "detector": name,
        "backbone": backbone,
        "ms/step": 1e3 * wall,
        "aten ops/step": ops * per_step,
        "launches/step": sum(e.count for e in events if e.key in LAUNCHES) * per_step,
        "syncs/step": sum(e.count for e in events if e.key in SYNCS) * per_step,
        "GPU kernel ms/step": kernel_us / 1e3 * per_step,
    }


def fit_step_ms(name: str, backbone: str, args) -> float:
    """ms of a step inside ``fit`` (its loop, batch indexing, bookkeeping): two fits
    that differ in ``n_epochs``."""
    X = make_data(backbone, 8 * args.batch_size, args.side, 2)
    seconds = []
    for epochs in (1, 1 + args.fit_epochs):
        model = detector(name, backbone, args, n_epochs=epochs)
        start = time.perf_counter()
        model.fit(X)
        synchronize(args.device)
        seconds.append(time.perf_counter() - start)
    return 1e3 * (seconds[1] - seconds[0]) / (8 * args.fit_epochs)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--detectors", nargs="+", choices=list(DETECTORS), default=list(DETECTORS))
    parser.add_argument("--backbones", nargs="+", choices=BACKBONES, default=list(BACKBONES))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--n-filters", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="timed and profiled steps")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--fit-epochs", type=int, default=5, help="extra epochs of the fit timing")
    parser.add_argument("--quick", action="store_true", help="tiny shapes: a smoke test")
    parser.add_argument("--json", metavar="OUT", help="also save the rows as JSON")
    args = parser.parse_args(argv)
    args.side = 28
    if args.quick:
        args.batch_size, args.n_filters, args.side = 8, 4, 8
        args.steps, args.warmup, args.fit_epochs = 2, 1, 1
    gpu = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "none"
    print(f"bench_step_profile: device {args.device} ({gpu}), torch {torch.__version__}, "
          f"batch {args.batch_size}, n_filters {args.n_filters}")  # fmt: skip
    rows = []
    for backbone in args.backbones:
        for name in args.detectors:
            row = profile_step(name, backbone, args)
            row["ms/step in fit"] = fit_step_ms(name, backbone, args)
            rows.append(row)
    header = list(rows[0])
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        cells = [v if isinstance(v, str) else f"{v:.2f}" for v in row.values()]
        print("| " + " | ".join(cells) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
