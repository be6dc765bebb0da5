"""DCGAN-style convolutional backbones for images (Radford et al. 2016).

The layout is the one of the GANomaly reference code (Akcay et al. 2018):
strided 4x4 convolutions halve the size down to 4x4, then a 4x4 convolution
maps to a 1x1 code; the decoder mirrors it with transposed convolutions and
a ``tanh`` output.  These pyramids need a square power-of-two side, so the
modules take any ``(C, H, W)`` with ``H, W >= 8``: inputs are padded
(edge-replicated) to the next power-of-two square, and outputs are
centre-cropped back, so callers always see their own image shape.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "DCGANDecoder",
    "DCGANDiscriminator",
    "DCGANEncoder",
    "DCGANJointDiscriminator",
    "padded_side",
]


def padded_side(height: int, width: int) -> int:
    """Side of the power-of-two square the networks work on internally.

    Examples
    --------
    >>> padded_side(28, 28), padded_side(8, 8), padded_side(20, 50)
    (32, 8, 64)
    """
    if min(height, width) < 8:
        raise ValueError(f"images must be at least 8x8 pixels, got {height}x{width}")
    return 2 ** math.ceil(math.log2(max(height, width)))


def _pad_amounts(height: int, width: int, side: int) -> tuple[int, int, int, int]:
    top, left = (side - height) // 2, (side - width) // 2
    return left, side - width - left, top, side - height - top


class _ImageModule(nn.Module):
    """Pads inputs to and crops outputs from the internal square size."""

    def __init__(self, image_shape: tuple[int, int, int]):
        super().__init__()
        self.image_shape = tuple(int(s) for s in image_shape)
        channels, height, width = self.image_shape
        self.side = padded_side(height, width)
        self._pad = _pad_amounts(height, width, self.side)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        if any(self._pad):
            x = F.pad(x, self._pad, mode="replicate")
        return x

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        left, _, top, _ = self._pad
        _, height, width = self.image_shape
        return x[..., top : top + height, left : left + width]


def _down_pyramid(channels: int, side: int, n_filters: int) -> tuple[nn.Sequential, int]:
    """Strided convolutions from ``side`` down to 4x4; returns (layers, channels)."""
    layers: list[nn.Module] = [
        nn.Conv2d(channels, n_filters, 4, 2, 1, bias=False),
        nn.LeakyReLU(0.2, inplace=True),
    ]
    size, width = side // 2, n_filters
    while size > 4:
        layers += [
            nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(width * 2),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        size, width = size // 2, width * 2
    return nn.Sequential(*layers), width


class DCGANEncoder(_ImageModule):
    """Map ``(n, C, H, W)`` images to ``(n, latent_dim)`` codes.

    Parameters
    ----------
    image_shape : tuple of int
        ``(C, H, W)`` with ``H, W >= 8``.
    latent_dim : int
        Size of the code.
    n_filters : int, default=64
        Channels of the first convolution; doubled at every halving.
    """

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: int, n_filters: int = 64):
        super().__init__(image_shape)
        self.features, width = _down_pyramid(self.image_shape[0], self.side, n_filters)
        self.head = nn.Conv2d(width, latent_dim, 4, 1, 0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.pad(x))).flatten(1)


class DCGANDecoder(_ImageModule):
    """Map ``(n, latent_dim)`` codes to ``(n, C, H, W)`` images in ``[-1, 1]``.

    Parameters
    ----------
    image_shape : tuple of int
        ``(C, H, W)`` of the images to produce.
    latent_dim : int
        Size of the code.
    n_filters : int, default=64
        Channels of the last hidden layer; doubled towards the code.
    """

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: int, n_filters: int = 64):
        super().__init__(image_shape)
        width = n_filters * self.side // 8
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        size = 4
        while size < self.side // 2:
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(True),
            ]
            size, width = size * 2, width // 2
        layers += [nn.ConvTranspose2d(width, self.image_shape[0], 4, 2, 1, bias=False), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.crop(self.body(z[:, :, None, None]))


class DCGANDiscriminator(_ImageModule):
    """Discriminator returning ``(logit, features)``.

    ``features`` is the output of the convolutional pyramid (the last 4x4
    feature map, flattened), the intermediate layer ``f(x)`` of the papers.

    Parameters
    ----------
    image_shape : tuple of int
        ``(C, H, W)`` with ``H, W >= 8``.
    n_filters : int, default=64
        Channels of the first convolution; doubled at every halving.
    """

    def __init__(self, image_shape: tuple[int, int, int], n_filters: int = 64):
        super().__init__(image_shape)
        self.features, width = _down_pyramid(self.image_shape[0], self.side, n_filters)
        self.classifier = nn.Conv2d(width, 1, 4, 1, 0, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(self.pad(x))
        return self.classifier(features).flatten(), features.flatten(1)


class DCGANJointDiscriminator(_ImageModule):
    """BiGAN discriminator ``D(x, z)`` on images, returning ``(logit, features)``.

    As in Zenati et al. (2018, appendix), the image goes through the
    convolutional pyramid, the code through a dense layer, and the two are
    concatenated into a dense joint layer whose output is the feature layer
    ``f(x, z)``.

    Parameters
    ----------
    image_shape : tuple of int
        ``(C, H, W)`` with ``H, W >= 8``.
    latent_dim : int
        Size of the code.
    n_filters : int, default=64
        Channels of the first convolution; the ``z`` branch has
        ``8 * n_filters`` units and the joint layer ``16 * n_filters``
        (512 and 1024 at the default, the paper's widths).
    """

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: int, n_filters: int = 64):
        super().__init__(image_shape)
        self.x_branch, width = _down_pyramid(self.image_shape[0], self.side, n_filters)
        self.z_branch = nn.Sequential(
            nn.Linear(latent_dim, 8 * n_filters), nn.LeakyReLU(0.2, inplace=True)
        )
        self.joint = nn.Sequential(
            nn.Linear(width * 16 + 8 * n_filters, 16 * n_filters), nn.LeakyReLU(0.2, inplace=True)
        )
        self.classifier = nn.Linear(16 * n_filters, 1)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x_features = self.x_branch(self.pad(x)).flatten(1)
        features = self.joint(torch.cat([x_features, self.z_branch(z)], dim=1))
        return self.classifier(features).squeeze(1), features
