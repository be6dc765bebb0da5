"""pytest settings for ``benchmarks/``: its modules import each other by name.

The scripts are run as ``python benchmarks/<script>.py``, which puts this
folder first on ``sys.path``; the tests (and the doctests of
``--doctest-modules``) get the same here. Nothing in this folder is
installed with skanomaly.
"""

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

# Real data for the tests that read it: $SKANOMALY_DATA, else the developers'
# ../shared/datasets beside the checkout. Tests skip where a set is absent.
DATA_DIR = Path(os.environ.get("SKANOMALY_DATA") or HERE.parents[1] / "shared" / "datasets")


@pytest.fixture
def data_dir():
    """The folder with the real data sets (which may be missing some or all of them)."""
    return DATA_DIR
