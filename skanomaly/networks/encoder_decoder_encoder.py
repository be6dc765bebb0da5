"""Encoder -> decoder -> encoder: the generator of GANomaly (Akcay et al. 2018, fig. 2)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["EncoderDecoderEncoder"]


class EncoderDecoderEncoder(nn.Module):
    """``x -> z = G_E(x) -> x_hat = G_D(z) -> z_hat = E(x_hat)``.

    Parameters
    ----------
    encoder, decoder, reencoder : nn.Module
        ``G_E``, ``G_D`` and ``E``; any backbone with matching shapes.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, reencoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.reencoder = reencoder

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(x_hat, z, z_hat)``."""
        z = self.encoder(x)
        x_hat = self.decoder(z)
        return x_hat, z, self.reencoder(x_hat)
