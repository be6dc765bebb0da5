"""Batch-norm statistics of the final weights ("precise BN", Wu & Johnson 2021).

Running averages collected during training mix statistics of many past
weights (and, in discriminators, of generated batches). After training,
each layer's running mean and variance are set instead to the mean and
(biased) variance of its input over the training data, fed the way scoring
feeds the networks, in large chunks, with no gradient and no weight update.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["calibrate_batch_norm", "calibration_rows"]


def calibration_rows(n_features: int, n_members: int = 1) -> int:
    """Rows per calibration chunk for rows of ``n_features`` values and ``n_members`` members.

    Large chunks: batch statistics of a chunk this size are those of the
    data set (exactly so when it holds every row).
    """
    rows = 2**22 // (n_features * n_members)
    return int(np.clip(rows, 256, 16384))


def calibrate_batch_norm(
    networks: Iterable[nn.Module],
    chunks: Iterable[torch.Tensor],
    feed: Callable[[torch.Tensor], None],
) -> None:
    """Set the statistics of every batch-norm layer of ``networks`` from ``chunks``.

    Parameters
    ----------
    networks : iterable of nn.Module
        The networks whose batch-norm layers are set.
    chunks : iterable of Tensor
        The data, chunk by chunk.
    feed : callable
        Runs the networks (in ``eval()`` mode) on one chunk the way scoring
        does; every batch-norm layer is switched to training mode meanwhile,
        to see its batch's inputs, and back to ``eval()`` at the end.
    """
    layers = [m for net in networks for m in net.modules() if isinstance(m, _BatchNorm)]
    if not layers:
        return
    moments: dict[_BatchNorm, list] = {}

    def record(layer, inputs):
        x = inputs[0].detach().to(torch.float64)
        dims = [d for d in range(x.dim()) if d != 1]
        count = x.numel() // x.shape[1]
        total, squares = x.sum(dims), x.pow(2).sum(dims)
        if layer in moments:
            moments[layer][0] += count
            moments[layer][1] += total
            moments[layer][2] += squares
        else:
            moments[layer] = [count, total, squares]

    hooks = [layer.register_forward_pre_hook(record) for layer in layers]
    for layer in layers:
        layer.train()
    try:
        with torch.no_grad():
            for x in chunks:
                feed(x)
    finally:
        for hook in hooks:
            hook.remove()
        for layer in layers:
            layer.eval()
    for layer, (count, total, squares) in moments.items():
        mean = total / count
        var = (squares / count - mean.pow(2)).clamp_min(0)
        layer.running_mean.copy_(mean)
        layer.running_var.copy_(var)
        layer.num_batches_tracked.fill_(1)
