"""Benchmark skanomaly against PyOD and scikit-learn detectors, side by side.

Every contender runs on the same splits (``protocols.py``): the tabular sets
with PyOD's protocol and the image sets one class normal in turn. The run
writes ``results.csv`` (one row per fit), ``results.md`` (the tables, the
command and what ran it), ``runs.json``, ``log.txt`` and two plots into
``--output``. From the repository root::

    python benchmarks/run_benchmark.py --data-dir ~/skanomaly_data
    python benchmarks/run_benchmark.py --quick       # smoke test
    python benchmarks/run_benchmark.py --resume      # finish an interrupted run
    python benchmarks/run_benchmark.py --profile adbench --data-dir ../shared/datasets \\
        --output docs/benchmark/adbench               # ADBench's 14 shared sets

``--data-dir`` defaults to ``skanomaly.datasets.get_data_home()``
(``$SKANOMALY_DATA``, else ``~/skanomaly_data``); sets whose files are
absent there are skipped, with a line saying so.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shlex
import sys
import time
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path

import torch
from one_class import parse_params
from protocols import ADBENCH_SETS, IMAGE_SETS, PROFILES, TABULAR_SETS
from report import markdown_report, plot_results, read_csv, write_csv
from runner import row_key, run_benchmark

from skanomaly._runtime import resolve_device
from skanomaly.datasets import get_data_home


def machine(device: str) -> dict:
    """What this run ran on, read now: the report prints it beside the times."""
    import pyod
    import sklearn

    import skanomaly

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration), open("/proc/cpuinfo") as handle:
        cpu = next(line.split(":", 1)[1].strip() for line in handle if "model name" in line)
    info = {
        "cpu": f"{cpu}, {os.cpu_count()} logical cores",
        "torch threads": str(torch.get_num_threads()),
        "device": device,
        "gpu": torch.cuda.get_device_name(device) if device.startswith("cuda") else "none used",
        "python": platform.python_version(),
        "versions": f"skanomaly {skanomaly.__version__}, torch {torch.__version__}, "
        f"PyOD {pyod.__version__}, scikit-learn {sklearn.__version__}",
        "platform": platform.platform(),
    }
    if hasattr(os, "getloadavg"):
        info["load average at start (1 min)"] = f"{os.getloadavg()[0]:.1f}"
    return info


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (about a minute)")
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        help="settings to use; default: quick with --quick, else full (full-gpu on a GPU)",
    )
    parser.add_argument("--output", type=Path, default=Path("docs/benchmark"))
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder with odds/*.mat and FashionMNIST/raw; default: $SKANOMALY_DATA, "
        "else ~/skanomaly_data",
    )
    parser.add_argument("--device", default="auto", help='torch device, default "auto"')
    parser.add_argument(
        "--datasets",
        nargs="+",
        choices=TABULAR_SETS + ADBENCH_SETS + IMAGE_SETS,
        help="only these data sets",
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
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a skanomaly parameter for the tabular part, over the profile's "
        "(e.g. --set robust_training=false --set n_estimators=1); values read as JSON",
    )
    parser.add_argument(
        "--first-seed",
        type=int,
        metavar="SEED",
        help="the first seed of the tabular part (default 0): e.g. --first-seed 3 runs the "
        "profile on seeds 3 to 5, new splits and new detector seeds",
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
    args.data_dir = get_data_home(args.data_dir)
    return args


def main(argv=None) -> int:
    """Command line: ``python benchmarks/run_benchmark.py [--quick] [--output DIR] ...``."""
    args = parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _main(args, sys.argv[1:] if argv is None else argv)
    finally:
        torch.set_num_threads(threads)


def _main(args, argv) -> int:
    device = resolve_device(args.device)
    name = args.profile or (
        "quick" if args.quick else ("full-gpu" if device.startswith("cuda") else "full")
    )
    profile = PROFILES[name]
    if args.set:
        profile = replace(profile, ours_tabular={**profile.ours_tabular, **parse_params(args.set)})
    if args.first_seed is not None:
        profile = replace(profile, tabular_first_seed=args.first_seed)
    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    csv_path, runs_path, log_path = out / "results.csv", out / "runs.json", out / "log.txt"
    keep = args.resume or args.report_only
    rows = read_csv(csv_path) if keep and csv_path.exists() else []
    runs = json.loads(runs_path.read_text()) if keep and runs_path.exists() else []
    if args.report_only:
        write_report(rows, profile, runs, out)
        return 0
    rows = [r for r in rows if r["status"] == "ok"]  # failed fits are tried again
    if not args.resume:
        log_path.write_text("")

    def log(line: str) -> None:
        print(line, flush=True)
        with open(log_path, "a") as handle:
            handle.write(line + "\n")

    def save(row):
        rows.append(row)
        write_csv(rows, csv_path)

    run = {
        "command": "python benchmarks/run_benchmark.py " + shlex.join(argv),
        "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(device),
    }
    run["command"] = run["command"].strip()
    log(f"profile {name}: {asdict(profile)}")
    log(f"machine: {run['machine']}")
    log(f"data: {args.data_dir}")
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
            on_row=save,
        )
    finally:
        run["wall_s"] = time.perf_counter() - start
        runs.append(run)
        runs_path.write_text(json.dumps(runs, indent=1))
        log(f"done in {run['wall_s'] / 60:.1f} minutes")
    write_csv(rows, csv_path)
    write_report(rows, profile, runs, out)
    print(f"wrote {csv_path}, {out / 'results.md'} and plots")
    return 0


def write_report(rows, profile, runs, out: Path) -> None:
    (out / "results.md").write_text(markdown_report(rows, profile, runs))
    plot_results(rows, out)


if __name__ == "__main__":
    sys.exit(main())
