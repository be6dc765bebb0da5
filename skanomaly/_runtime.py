"""Where and how torch runs: devices, seeding, threads, CPU copies for pickling,
reading ahead in worker processes, and the library versions a model records
(with the warning when a model file or a pickle was written with others).

Shared by the estimators (:mod:`skanomaly._base`), the model files
(:mod:`skanomaly.persistence`) and the command line.
"""

from __future__ import annotations

import copy
import threading
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from .exceptions import DeviceWarning, VersionMismatchWarning

__all__ = [
    "PICKLE_VERSIONS",
    "available_device",
    "library_versions",
    "read_ahead",
    "resolve_device",
    "warn_on_version_mismatch",
]


def library_versions() -> dict[str, str]:
    """The versions of skanomaly and of the libraries a fitted model depends on.

    Recorded in model files, pickles and the command line's run records.

    Examples
    --------
    >>> sorted(library_versions())
    ['numpy', 'skanomaly', 'sklearn', 'torch']
    """
    import numpy
    import sklearn

    from ._version import __version__

    return {
        "skanomaly": __version__,
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "numpy": numpy.__version__,
    }


# Where a pickled detector records the library versions that wrote it.
PICKLE_VERSIONS = "_skanomaly_versions"


def warn_on_version_mismatch(
    written: Any, what: str = "skanomaly model file", stacklevel: int = 4
) -> None:
    """Warn when ``written`` (library -> version) differs from this installation's.

    ``None`` (or anything but a dict) means the writer recorded no versions:
    a skanomaly from before versions were recorded.  Only releases are
    compared: ``"2.4.0+cu121"`` and ``"2.4.0+cpu"`` are the same torch.

    Warns
    -----
    VersionMismatchWarning
        Naming each library whose version differs, or saying that none
        were recorded.
    """
    here = library_versions()
    if not isinstance(written, dict):
        warnings.warn(
            f"this {what} records no library versions: it was written by an older "
            f"skanomaly than {here['skanomaly']}; it may load or score differently.",
            VersionMismatchWarning,
            stacklevel=stacklevel,
        )
        return
    differ = [
        f"{name} {str(written.get(name))[:40]!r} (here {version!r})"
        for name, version in here.items()
        if str(written.get(name)).split("+")[0] != version.split("+")[0]
    ]
    if differ:
        warnings.warn(
            f"this {what} was written with " + ", ".join(differ) + "; "
            "it may load or score differently.",
            VersionMismatchWarning,
            stacklevel=stacklevel,
        )


def resolve_device(device: str | torch.device) -> str:
    """Turn the ``device`` parameter into a concrete torch device string.

    ``"auto"`` means CUDA when available, else the CPU.

    Examples
    --------
    >>> resolve_device("cpu")
    'cpu'
    """
    if str(device) == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a valid torch device") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available")
    return str(resolved)


def available_device(device: str) -> str:
    """The device a loaded model goes to: ``device`` if this machine has it.

    A CUDA device that is missing here falls back, with a
    :class:`~skanomaly.exceptions.DeviceWarning`, to the first GPU when
    there is one, else to the CPU.

    Examples
    --------
    >>> available_device("cpu")
    'cpu'
    """
    wanted = torch.device(device)
    if wanted.type != "cuda":
        return str(wanted)
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count and (wanted.index is None or wanted.index < count):
        return str(wanted)
    fallback = "cuda:0" if count else "cpu"
    warnings.warn(
        f"this model was trained on {device!r}, which is not available here; "
        f"it is loaded on {fallback!r}.",
        DeviceWarning,
        stacklevel=3,
    )
    return fallback


_GLOBAL_RNG_LOCK = threading.RLock()


@contextmanager
def _seeded_torch(seed: int, device: str) -> Iterator[None]:
    """Seed torch inside a forked RNG state, leaving the global state untouched.

    torch's default generator is one per process: fits running in threads of
    one process (a Dask worker with several threads, joblib's threading
    backend) take turns here, so that each draws only its own seeded stream.
    """
    cuda_devices = list(range(torch.cuda.device_count())) if device.startswith("cuda") else []
    with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(seed)
        yield


@contextmanager
def _torch_threads(n_threads: int | None) -> Iterator[None]:
    """Set torch's intra-op thread count for a block, then restore it."""
    previous = torch.get_num_threads()
    if n_threads is not None:
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _cpu_module(module: nn.Module) -> nn.Module:
    """``module`` if it lives on the CPU, else a CPU copy; the original stays put."""
    if any(p.device.type != "cpu" for p in module.parameters()):
        return copy.deepcopy(module).cpu()
    return module


def _cpu_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """``module``'s ``state_dict`` with every tensor on the CPU, detached."""
    return {key: tensor.detach().cpu() for key, tensor in module.state_dict().items()}


def read_ahead(dataset, batches: Iterable, num_workers: int = 0) -> Iterator[list]:
    """The items of ``dataset`` for each list of indices in ``batches``, in order.

    Read here with ``num_workers=0``, else by a ``torch.utils.data.DataLoader``
    with that many worker processes, which read ahead while the caller
    computes (the images of a folder read from disk, batch by batch).

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        Indexed with ints; pickled to the worker processes.
    batches : iterable of sequences of int
        The indices of each batch.
    num_workers : int, default 0
        Worker processes; 0 reads in this process, when asked.

    Yields
    ------
    items : list
        ``[dataset[i] for i in batch]``, for each batch of ``batches``.

    Examples
    --------
    >>> list(read_ahead(["a", "b", "c"], [[0, 2], [1]]))
    [['a', 'c'], ['b']]
    """
    if not num_workers:
        for index in batches:
            yield [dataset[i] for i in index]
        return
    from torch.utils.data import DataLoader

    yield from DataLoader(
        dataset,
        batch_sampler=[list(map(int, index)) for index in batches],
        num_workers=num_workers,
        collate_fn=list,
        # Its own generator for the workers' seeds: a DataLoader without one
        # draws from torch's global generator, which the training steps use.
        generator=torch.Generator().manual_seed(0),
    )
