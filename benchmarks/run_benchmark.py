"""Benchmark skanomaly against PyOD and scikit-learn detectors.

Usage (from the repository root)::

    python benchmarks/run_benchmark.py            # full run, about 25 minutes on 2 CPU cores
    python benchmarks/run_benchmark.py --quick    # smoke test, under a minute

Results go to ``docs/benchmark/`` (``--output`` to change). See
:mod:`skanomaly.benchmark` for the protocol.
"""

import sys
from pathlib import Path

# Benchmark the checkout this script lives in, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skanomaly.benchmark import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
