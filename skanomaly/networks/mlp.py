"""Fully connected backbones for tabular data.

The layers follow the DCGAN recipe translated to dense layers: a linear
layer, batch normalisation (not on the discriminator's input layer) and a
LeakyReLU(0.2) / ReLU.  Encoders and decoders have linear outputs because
tabular features are standardised, not bounded.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MLPDecoder", "MLPDiscriminator", "MLPEncoder", "MLPJointDiscriminator"]


def _dense_stack(
    in_dim: int, widths: Sequence[int], *, batch_norm: bool, first_norm: bool, leaky: bool
) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for i, width in enumerate(widths):
        layers.append(nn.Linear(in_dim, width))
        if batch_norm and (first_norm or i > 0):
            layers.append(nn.BatchNorm1d(width))
        layers.append(nn.LeakyReLU(0.2) if leaky else nn.ReLU())
        in_dim = width
    return nn.Sequential(*layers), in_dim


class MLPEncoder(nn.Module):
    """Map ``(n, in_dim)`` rows to ``(n, latent_dim)`` codes.

    Parameters
    ----------
    in_dim : int
        Number of input features.
    hidden_dims : sequence of int
        Widths of the hidden layers, input side first.
    latent_dim : int
        Size of the code.
    """

    def __init__(self, in_dim: int, hidden_dims: Sequence[int], latent_dim: int):
        super().__init__()
        self.body, width = _dense_stack(
            in_dim, hidden_dims, batch_norm=True, first_norm=False, leaky=True
        )
        self.head = nn.Linear(width, latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class MLPDecoder(nn.Module):
    """Map ``(n, latent_dim)`` codes to ``(n, out_dim)`` rows (linear output).

    Parameters
    ----------
    latent_dim : int
        Size of the code.
    hidden_dims : sequence of int
        Widths of the hidden layers, *input side first*; the decoder uses
        them in reverse so that it mirrors :class:`MLPEncoder`.
    out_dim : int
        Number of output features.
    """

    def __init__(self, latent_dim: int, hidden_dims: Sequence[int], out_dim: int):
        super().__init__()
        self.body, width = _dense_stack(
            latent_dim, list(hidden_dims)[::-1], batch_norm=True, first_norm=True, leaky=False
        )
        self.head = nn.Linear(width, out_dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(z))


class MLPDiscriminator(nn.Module):
    """Discriminator returning ``(logit, features)``.

    ``features`` is the last hidden layer, the intermediate representation
    ``f(x)`` used for feature matching by AnoGAN and GANomaly.

    Parameters
    ----------
    in_dim : int
        Number of input features.
    hidden_dims : sequence of int
        Widths of the hidden layers.
    """

    def __init__(self, in_dim: int, hidden_dims: Sequence[int]):
        super().__init__()
        self.features, width = _dense_stack(
            in_dim, hidden_dims, batch_norm=True, first_norm=False, leaky=True
        )
        self.classifier = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(x)
        return self.classifier(features).squeeze(1), features


class MLPJointDiscriminator(nn.Module):
    """BiGAN discriminator ``D(x, z)`` returning ``(logit, features)``.

    ``x`` and ``z`` each pass through their own branch; the branches are
    concatenated and passed through a joint layer whose output is the
    feature layer ``f(x, z)`` (Zenati et al. 2018, section 3).

    Parameters
    ----------
    in_dim : int
        Number of input features.
    hidden_dims : sequence of int
        Widths of the ``x`` branch; the joint layer has the width of the first.
    latent_dim : int
        Size of the code.
    """

    def __init__(self, in_dim: int, hidden_dims: Sequence[int], latent_dim: int):
        super().__init__()
        self.x_branch, x_width = _dense_stack(
            in_dim, hidden_dims, batch_norm=True, first_norm=False, leaky=True
        )
        self.z_branch, z_width = _dense_stack(
            latent_dim, [hidden_dims[-1]], batch_norm=False, first_norm=False, leaky=True
        )
        self.joint, width = _dense_stack(
            x_width + z_width, [hidden_dims[0]], batch_norm=False, first_norm=False, leaky=True
        )
        self.classifier = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.joint(torch.cat([self.x_branch(x), self.z_branch(z)], dim=1))
        return self.classifier(features).squeeze(1), features
