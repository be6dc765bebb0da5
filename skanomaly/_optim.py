"""Adam for the detectors' networks, and an Adam that updates one flat buffer.

A tabular training step is per-call overhead, not arithmetic: an MLP's
layers are a few thousand numbers each, and ``torch.optim.Adam`` spends
its time in Python bookkeeping for every parameter tensor (gradient checks,
state lookups, grouping) before its one fused kernel. :class:`FlatAdam`
gives it a single tensor: every parameter and its gradient become views
into one contiguous buffer each, so the update, and the clearing of the
gradients, is one call on one tensor. Adam works element by element, so
the update is Adam's own.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["FlatAdam", "make_adam", "release_parameters"]


class FlatAdam(torch.optim.Adam):
    """Adam over one flat buffer that holds the values of many parameters.

    On construction each parameter's values move into a slice of one new
    buffer (``p.data`` becomes a view of it, with the same shape and
    strides) and its ``.grad`` into a slice of a second one, which backward
    passes then accumulate into. The optimiser itself sees the one buffer.
    :meth:`release` gives every parameter its own memory back, for when
    training ends.

    Parameters
    ----------
    params : iterable of torch.nn.Parameter
        Dense parameters on one device, with one dtype.
    **settings
        Passed to :class:`torch.optim.Adam` (``lr``, ``betas``, ``fused``, ...).

    Notes
    -----
    ``zero_grad`` clears the gradient buffer in place whatever
    ``set_to_none`` says: the gradients must stay views of the buffer.
    Anything that replaces a parameter tensor (rather than writing into it,
    as ``load_state_dict`` and ``nn.init`` do) would detach it from the
    optimiser.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))
    >>> optimizer = FlatAdam(net.parameters(), lr=0.01)
    >>> len(optimizer.param_groups[0]["params"])
    1
    >>> net(torch.ones(2, 3)).sum().backward()
    >>> optimizer.step()
    >>> optimizer.release()
    >>> net[0].weight.grad is None
    True
    """

    def __init__(self, params: Iterable[nn.Parameter], **settings):
        self._members = list(params)
        first = self._members[0]
        values = torch.empty(
            sum(p.numel() for p in self._members), device=first.device, dtype=first.dtype
        )
        grads = torch.zeros_like(values)
        # Each parameter's slice, with its shape and strides (e.g. channels_last).
        views, offset = [], 0
        for p in self._members:
            value, grad = (t.as_strided(p.shape, p.stride(), offset) for t in (values, grads))
            value.copy_(p.detach())
            views.append((value, grad))
            offset += p.numel()
        flat = nn.Parameter(values)
        flat.grad = grads
        # Adam may refuse the settings (e.g. ``fused`` on a device without the
        # kernels): the parameters are rebound only once it has accepted them.
        super().__init__([flat], **settings)
        for p, (value, grad) in zip(self._members, views, strict=True):
            p.data, p.grad = value, grad

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients in place (``set_to_none`` is ignored, see Notes)."""
        for group in self.param_groups:
            for flat in group["params"]:
                flat.grad.zero_()

    def release(self) -> None:
        """Give each parameter its own memory again, and no gradient."""
        for p in self._members:
            p.data = p.detach().clone()
            p.grad = None


def make_adam(params: list[nn.Parameter], *, flat: bool, **settings) -> torch.optim.Adam:
    """Fused Adam where torch has it for the device, over a flat buffer if ``flat``."""
    cls = FlatAdam if flat else torch.optim.Adam
    try:
        return cls(params, fused=True, **settings)
    except RuntimeError:  # torch < 2.4 on the CPU, or a device without fused kernels
        return cls(params, **settings)


def release_parameters(optimizers: Iterable[torch.optim.Optimizer]) -> None:
    """Release the parameters of every :class:`FlatAdam` among ``optimizers``."""
    for optimizer in optimizers:
        if isinstance(optimizer, FlatAdam):
            optimizer.release()
