"""How many CPU threads torch uses inside one ``fit`` or scoring call.

Parallel engines run several fits at once; each must not claim every core.

- Process-based engines already split the CPU, and torch reads the split at
  import: joblib's default ``loky`` backend sets ``OMP_NUM_THREADS`` to
  ``cpu_count() // n_jobs`` in its workers, and a Dask nanny sets
  ``OMP_NUM_THREADS=1`` in each worker process, which runs one task per
  worker thread.  skanomaly leaves these alone.
- Thread-based engines (joblib's ``threading`` backend, Dask's
  ``LocalCluster(processes=False)``, a ``ThreadPoolExecutor``) share one
  process, where torch would give each concurrent fit all the cores.  So a
  call made from any thread but the main thread runs with one intra-op
  thread, as a Dask worker process does.

torch's thread count is kept per OS thread (OpenMP and MKL thread-local
settings), so lowering it for the calling thread leaves other running
threads alone; it is restored when the call returns.  The main thread is
never changed: a single fit there uses ``torch.get_num_threads()`` threads,
which the user sets with ``torch.set_num_threads``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def limit_torch_threads() -> Iterator[None]:
    """One torch intra-op thread while inside, unless called from the main thread.

    Examples
    --------
    >>> import threading, torch
    >>> seen = []
    >>> def work():
    ...     with limit_torch_threads():
    ...         seen.append(torch.get_num_threads())
    >>> worker = threading.Thread(target=work)
    >>> worker.start(); worker.join()
    >>> seen
    [1]
    """
    if threading.current_thread() is threading.main_thread():
        yield
        return
    previous = torch.get_num_threads()
    if previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
