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

from ._docstring import fill_doc

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


class _FullKernelConv(nn.Conv2d):
    """A convolution whose kernel covers its whole input, as one matrix product.

    The 4x4 -> 1x1 heads of the pyramids.  Same parameters as ``nn.Conv2d``;
    on the CPU oneDNN ran this shape at a fifth of the rate of the
    pyramid's convolutions, and the matrix product (free of copies on
    channels-last input) was 3x faster (docs/throughput.md).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.kernel_size or self.padding != (0, 0):
            return super().forward(x)
        weight = self.weight.permute(0, 2, 3, 1).flatten(1)
        return F.linear(x.permute(0, 2, 3, 1).flatten(1), weight, self.bias)[:, :, None, None]


class _CodeToMap(nn.ConvTranspose2d):
    """A transposed convolution from a 1x1 code to a ``k x k`` map, as one matrix product.

    The first layer of the decoder; returns a channels-last map.  oneDNN's
    transposed convolution ran this shape 7x slower (docs/throughput.md).
    """

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if tuple(z.shape[-2:]) != (1, 1) or self.padding != (0, 0):
            return super().forward(z)
        height, width = self.kernel_size
        out = z.flatten(1) @ self.weight.permute(0, 2, 3, 1).flatten(1)
        out = out.view(-1, height, width, self.out_channels)  # -1: batch-free for export
        if self.bias is not None:
            out = out + self.bias
        return out.permute(0, 3, 1, 2)


class _ToImage(nn.ConvTranspose2d):
    """The decoder's last transposed convolution (to the image's few channels).

    Computed as transposed convolutions are by definition: one matrix
    product gives every input pixel's ``k x k`` patch of contributions, and
    ``F.fold`` (col2im) sums the overlapping patches.  On the CPU this ran
    2.9x faster than oneDNN's kernel to one channel (64 -> 1, 16x16 ->
    32x32) and 1.3-1.7x faster to three (docs/throughput.md).  Only for
    ``groups=1``, ``dilation=1`` and no ``output_padding``, as built here.
    """

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        height, width = h.shape[-2:]
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        size = ((height - 1) * sh - 2 * ph + kh, (width - 1) * sw - 2 * pw + kw)
        # (n, H * W, C_in) @ (C_in, C_out * kh * kw); flatten, not a fixed n, for export
        cols = h.permute(0, 2, 3, 1).flatten(1, 2) @ self.weight.flatten(1)
        out = F.fold(
            cols.transpose(1, 2), size, self.kernel_size, padding=self.padding, stride=self.stride
        )
        if self.bias is not None:
            out = out + self.bias[:, None, None]
        return out


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


@fill_doc
class DCGANEncoder(_ImageModule):
    """Map ``(n, C, H, W)`` images to ``(n, latent_dim)`` codes.

    Parameters
    ----------
    %(image_shape)s
    %(latent_dim)s
    %(n_filters)s
    """

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: int, n_filters: int = 64):
        super().__init__(image_shape)
        self.features, width = _down_pyramid(self.image_shape[0], self.side, n_filters)
        self.head = _FullKernelConv(width, latent_dim, 4, 1, 0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.pad(x))).flatten(1)


@fill_doc
class DCGANDecoder(_ImageModule):
    """Map ``(n, latent_dim)`` codes to ``(n, C, H, W)`` images in ``[-1, 1]``.

    Parameters
    ----------
    image_shape : tuple of int
        ``(C, H, W)`` of the images to produce, with ``H, W >= 8``.
    %(latent_dim)s
    n_filters : int, default=64
        Channels of the last hidden layer; doubled towards the code.
    """

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: int, n_filters: int = 64):
        super().__init__(image_shape)
        width = n_filters * self.side // 8
        layers: list[nn.Module] = [
            _CodeToMap(latent_dim, width, 4, 1, 0, bias=False),
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
        layers += [_ToImage(width, self.image_shape[0], 4, 2, 1, bias=False), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.crop(self.body(z[:, :, None, None]))


@fill_doc
class DCGANDiscriminator(_ImageModule):
    """Discriminator returning ``(logit, features)``.

    ``features`` is the output of the convolutional pyramid (the last 4x4
    feature map, flattened), the intermediate layer ``f(x)`` of the papers.

    Parameters
    ----------
    %(image_shape)s
    %(n_filters)s
    """

    def __init__(self, image_shape: tuple[int, int, int], n_filters: int = 64):
        super().__init__(image_shape)
        self.features, width = _down_pyramid(self.image_shape[0], self.side, n_filters)
        self.classifier = _FullKernelConv(width, 1, 4, 1, 0, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(self.pad(x))
        return self.classifier(features).flatten(), features.flatten(1)


@fill_doc
class DCGANJointDiscriminator(_ImageModule):
    """BiGAN discriminator ``D(x, z)`` on images, returning ``(logit, features)``.

    As in Zenati et al. (2018, appendix), the image goes through the
    convolutional pyramid, the code through a dense layer, and the two are
    concatenated into a dense joint layer whose output is the feature layer
    ``f(x, z)``.

    Parameters
    ----------
    %(image_shape)s
    %(latent_dim)s
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
