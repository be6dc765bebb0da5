"""The backbone for the data: MLPs for tabular rows, DCGAN pyramids for images."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .dcgan import DCGANDecoder, DCGANDiscriminator, DCGANEncoder, DCGANJointDiscriminator
from .mlp import MLPDecoder, MLPDiscriminator, MLPEncoder, MLPJointDiscriminator

__all__ = ["Backbone"]


@dataclass(frozen=True)
class Backbone:
    """Builds the networks of one model, each sized for the data.

    Parameters
    ----------
    n_features : int
        Values per row (per image).
    latent_dim : int
        Size of the code ``z``.
    hidden_dims : tuple of int, default=None
        Widths of the MLP layers; used for tabular data only.
    image_shape : tuple of int, default=None
        ``(C, H, W)`` of the images; ``None`` for tabular data (MLPs).
    n_filters : int, default=64
        Channels of the first convolution; used for images only.
    n_members : int, default=1
        Independent copies of each MLP run in one pass, on row-stacked
        batches (see :mod:`skanomaly.networks.mlp`); images take 1 only.

    Examples
    --------
    >>> from skanomaly.networks import Backbone
    >>> backbone = Backbone(n_features=784, latent_dim=100, image_shape=(1, 28, 28))
    >>> type(backbone.encoder()).__name__
    'DCGANEncoder'
    """

    n_features: int
    latent_dim: int
    hidden_dims: tuple[int, ...] | None = None
    image_shape: tuple[int, int, int] | None = None
    n_filters: int = 64
    n_members: int = 1

    def __post_init__(self):
        if self.image_shape is not None and self.n_members != 1:
            raise ValueError("the convolutional networks have no ensemble form: n_members=1")

    def encoder(self) -> nn.Module:
        """``x -> z``: :class:`MLPEncoder` or :class:`DCGANEncoder`."""
        if self.image_shape is None:
            return MLPEncoder(self.n_features, self.hidden_dims, self.latent_dim, self.n_members)
        return DCGANEncoder(self.image_shape, self.latent_dim, self.n_filters)

    def decoder(self) -> nn.Module:
        """``z -> x``: :class:`MLPDecoder` or :class:`DCGANDecoder`."""
        if self.image_shape is None:
            return MLPDecoder(self.latent_dim, self.hidden_dims, self.n_features, self.n_members)
        return DCGANDecoder(self.image_shape, self.latent_dim, self.n_filters)

    def discriminator(self) -> nn.Module:
        """``x -> (logit, f(x))``: :class:`MLPDiscriminator` or :class:`DCGANDiscriminator`."""
        if self.image_shape is None:
            return MLPDiscriminator(self.n_features, self.hidden_dims, self.n_members)
        return DCGANDiscriminator(self.image_shape, self.n_filters)

    def joint_discriminator(self) -> nn.Module:
        """``(x, z) -> (logit, f(x, z))``: the MLP or DCGAN joint discriminator."""
        if self.image_shape is None:
            return MLPJointDiscriminator(
                self.n_features, self.hidden_dims, self.latent_dim, self.n_members
            )
        return DCGANJointDiscriminator(self.image_shape, self.latent_dim, self.n_filters)
