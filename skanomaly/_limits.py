"""Size limits: the one home of every bound on what skanomaly reads or builds.

- Networks: how big a detector's networks are, before they are built.
  Loading a file from an untrusted source (:func:`skanomaly.load`) takes
  the sizes from the file, and fitting on large images can, through the
  power-of-two padding of the convolutional networks, ask for a model that
  does not fit in memory. The networks are built on PyTorch's ``meta``
  device, which records shapes and allocates nothing, so the count is exact
  for whatever ``_build_networks`` makes.
- Image files: the pixels an image may have before it is decoded.
- Model files: what a file of unknown origin may ask for.

Importing this module does not import PyTorch (the command line's parser
reads the limits).
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# Documented upper bounds for model files (docs/persistence.md).
MAX_NETWORK_VALUES = 2**28  # all networks together: 1 GiB of float32
MAX_SEARCH_STEPS = 10_000  # AnoGAN's latent search, per scored batch
MAX_IMAGE_SIDE = 4096  # after padding to a power-of-two square

# Per image and per conv filter of the first layer, bytes of activations one
# training step keeps for the backward pass, per padded pixel: about six
# pyramid passes (encoders, decoder, discriminator on real and fake) of
# 0.75 * n_filters * side**2 float32 values each, rounded up.
_ACTIVATION_BYTES_PER_FILTER_PIXEL = 24
# Weights, their gradients and Adam's two moments.
_TRAINING_COPIES = 4


def network_specs(estimator) -> dict[str, dict[str, tuple[tuple[int, ...], torch.dtype]]]:
    """``{name: {key: (shape, dtype)}}``: the ``state_dict`` ``_build_networks`` would make.

    Nothing is allocated: the networks are built on the ``meta`` device, on
    a throw-away copy of ``estimator`` (whose sizes, ``latent_dim_``,
    ``image_shape_``..., must be set).

    Raises
    ------
    ValueError
        If no network could be built from the estimator's sizes.
    """
    import torch  # here: the limits themselves are read where torch is not loaded

    probe = estimator._shallow_copy()
    probe._network_names = ()  # the probe's registry lists only what it builds
    error = None
    with torch.device("meta"), torch.random.fork_rng(devices=[]):
        try:
            probe._build_networks()
        except Exception as exc:  # e.g. a buffer that is turned into numpy
            error = exc
    built = probe._networks()
    if not built:
        raise ValueError(f"cannot build the networks from these sizes ({error})")
    return {
        name: {key: (tuple(t.shape), t.dtype) for key, t in module.state_dict().items()}
        for name, module in built.items()
    }


def network_sizes(estimator) -> dict[str, tuple[int, int, int]]:
    """``{name: (values, bytes, tensors)}`` of the networks ``_build_networks`` would make.

    Counted from :func:`network_specs`: nothing is allocated.

    Raises
    ------
    ValueError
        If no network could be built from the estimator's sizes.
    """
    sizes = {}
    for name, specs in network_specs(estimator).items():
        counts = [(math.prod(shape), dtype.itemsize) for shape, dtype in specs.values()]
        sizes[name] = (sum(n for n, _ in counts), sum(n * b for n, b in counts), len(counts))
    return sizes


def available_memory(device: str) -> int | None:
    """Bytes free on ``device`` (GPU memory, or the machine's RAM); None if unknown."""
    import torch

    if torch.device(device).type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(torch.device(device))[0])
        except (RuntimeError, AssertionError):
            return None
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def training_memory(estimator, side: int, batch_size: int) -> int:
    """Rough bytes one training step of an image model needs (weights + activations)."""
    weights = sum(b for _, b, _ in network_sizes(estimator).values())
    filters = int(getattr(estimator, "n_filters", 64))
    activations = _ACTIVATION_BYTES_PER_FILTER_PIXEL * filters * side * side * batch_size
    return _TRAINING_COPIES * weights + activations


def gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"


# ----------------------------------------------------------------------
# Image files
# ----------------------------------------------------------------------
# Images beyond this many pixels are refused before they are decoded (PIL
# would need gigabytes); 8192 x 8192 is the largest square accepted
# (docs/images.md).  Read by skanomaly.datasets for every image file.
MAX_IMAGE_PIXELS = 8192 * 8192


# ----------------------------------------------------------------------
# Model files (skanomaly.persistence): what ``load`` reads from a file of
# unknown origin, whatever the file says (docs/persistence.md).  The
# network total above is the real bound; these keep each number sane first.
# ----------------------------------------------------------------------
MAX_FEATURES = 2**24
MAX_CHANNELS = 256
MAX_WIDTH = 2**16  # hidden_dims entries
MAX_LATENT = 8192
MAX_HIDDEN_LAYERS = 16
MAX_ESTIMATORS = 64  # networks of a tabular ensemble
MAX_FILTERS = 4096
MAX_BATCH_SIZE = 2**16
MAX_START_CODES = 1024
# A manifest holds parameters and small attributes; anything larger is not ours.
MAX_MANIFEST_BYTES = 16 * 2**20
MAX_JSON_DEPTH = 32
# Values in a manifest (bounded by counting its commas and brackets): a
# parsed JSON value costs up to about 70 bytes, so 2**20 of them stay near
# 70 MiB whatever the manifest holds.
MAX_JSON_ITEMS = 2**20
# Members of arrays.npz: one per stored array.
MAX_ARRAYS = 1024
# Bytes a member may hold beyond the values themselves: zip/pickle/npy framing.
FRAMING_BYTES = 2**20
FRAMING_BYTES_PER_TENSOR = 4096
# The finiteness check of the weights reads this many values at a time.
FINITE_CHUNK = 2**20
# The load-time scoring check: a search (AnoGAN's) from one start code, for
# at most this many steps, whatever latent_steps the file asks for.
PROBE_SEARCH_STEPS = 5
# Stored training scores are float32 network outputs: beyond this they are
# not scores (and their quantiles would overflow to infinity).
MAX_STORED_SCORE = 3.4028234663852886e38  # float32's largest
