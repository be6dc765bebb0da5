"""Weight initialisation of the backbones."""

from __future__ import annotations

from torch import nn

__all__ = ["dcgan_init", "reinitialize"]


def dcgan_init(module: nn.Module) -> None:
    """DCGAN weight initialisation, for use with ``module.apply(dcgan_init)``.

    Convolutions get N(0, 0.02) weights and batch-norm layers N(1, 0.02)
    scales with zero shifts (Radford et al. 2016).  Linear layers keep
    PyTorch's default initialisation, which trains the MLP backbones better.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def reinitialize(module: nn.Module) -> None:
    """Draw fresh weights for every layer of ``module`` (default init, then DCGAN's)."""
    for layer in module.modules():
        if layer is not module and hasattr(layer, "reset_parameters"):
            layer.reset_parameters()
    module.apply(dcgan_init)
