"""Fully connected backbones for tabular data.

The layers follow the DCGAN recipe translated to dense layers: a linear
layer, batch normalisation (on every layer of the decoder; not on the first
layer of the encoder and of the discriminators, nor on the joint
discriminator's ``z`` and joint layers) and a LeakyReLU(0.2) (the decoder:
ReLU).  Encoders and decoders have linear outputs because tabular features
are standardised, not bounded.

Every network can hold ``n_members`` independent copies of itself (an
ensemble) that run in one pass: their input is the members' batches stacked
along the rows, ``(n_members * n, features)``, and rows ``j*n`` to
``(j+1)*n - 1`` go through member ``j`` only.  With one member the layers
are the plain :class:`torch.nn.Linear` and :class:`torch.nn.BatchNorm1d`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ._docstring import fill_doc

__all__ = [
    "EnsembleBatchNorm1d",
    "EnsembleLinear",
    "MLPDecoder",
    "MLPDiscriminator",
    "MLPEncoder",
    "MLPJointDiscriminator",
]


class EnsembleLinear(nn.Module):
    """``n_members`` independent linear layers over row-stacked batches.

    Parameters
    ----------
    n_members : int
        Number of members; the input's rows are ``n_members`` equal blocks.
    in_features, out_features : int
        As in :class:`torch.nn.Linear`; each member is initialised as one.

    Examples
    --------
    >>> import torch
    >>> layer = EnsembleLinear(3, 4, 2)
    >>> layer(torch.zeros(3 * 5, 4)).shape
    torch.Size([15, 2])
    """

    def __init__(self, n_members: int, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_members, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(n_members, 1, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # nn.Linear's default: uniform in +-1/sqrt(fan_in) for weights and biases.
        bound = 1.0 / math.sqrt(self.weight.shape[1])
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_members, in_features, out_features = self.weight.shape
        blocks = x.reshape(n_members, -1, in_features)
        return torch.baddbmm(self.bias, blocks, self.weight).reshape(-1, out_features)


class EnsembleBatchNorm1d(nn.Module):
    """Batch normalisation of each member's block with its own statistics.

    The blocks are laid side by side, ``(n, n_members * features)``, for one
    :class:`torch.nn.BatchNorm1d` (``norm``) whose channels are the members'
    features: its statistics and affine parameters are per member.

    Parameters
    ----------
    n_members : int
        Number of members; the input's rows are ``n_members`` equal blocks.
    num_features : int
        Features of one member.
    """

    def __init__(self, n_members: int, num_features: int):
        super().__init__()
        self.n_members = n_members
        self.norm = nn.BatchNorm1d(n_members * num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows, features = x.shape
        n = rows // self.n_members
        side_by_side = x.reshape(self.n_members, n, features).transpose(0, 1)
        out = self.norm(side_by_side.reshape(n, self.n_members * features))
        return out.reshape(n, self.n_members, features).transpose(0, 1).reshape(rows, features)


def _linear(n_members: int, in_dim: int, out_dim: int) -> nn.Module:
    return (
        nn.Linear(in_dim, out_dim)
        if n_members == 1
        else EnsembleLinear(n_members, in_dim, out_dim)
    )


def _batch_norm(n_members: int, width: int) -> nn.Module:
    return nn.BatchNorm1d(width) if n_members == 1 else EnsembleBatchNorm1d(n_members, width)


def _dense_stack(
    in_dim: int,
    widths: Sequence[int],
    *,
    batch_norm: bool,
    first_norm: bool,
    leaky: bool,
    n_members: int = 1,
) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for i, width in enumerate(widths):
        layers.append(_linear(n_members, in_dim, width))
        if batch_norm and (first_norm or i > 0):
            layers.append(_batch_norm(n_members, width))
        layers.append(nn.LeakyReLU(0.2) if leaky else nn.ReLU())
        in_dim = width
    return nn.Sequential(*layers), in_dim


def _stack_and_head(
    in_dim: int,
    widths: Sequence[int],
    out_dim: int,
    *,
    first_norm: bool = False,
    leaky: bool = True,
    n_members: int = 1,
) -> tuple[nn.Sequential, nn.Module]:
    """A batch-normalised dense stack and the linear layer after it, built in that order."""
    stack, width = _dense_stack(
        in_dim, widths, batch_norm=True, first_norm=first_norm, leaky=leaky, n_members=n_members
    )
    return stack, _linear(n_members, width, out_dim)


@fill_doc
class MLPEncoder(nn.Module):
    """Map ``(n, in_dim)`` rows to ``(n, latent_dim)`` codes.

    Parameters
    ----------
    %(in_dim)s
    hidden_dims : sequence of int
        Widths of the hidden layers, input side first.
    %(latent_dim)s
    %(n_members)s
    """

    def __init__(
        self, in_dim: int, hidden_dims: Sequence[int], latent_dim: int, n_members: int = 1
    ):
        super().__init__()
        self.body, self.head = _stack_and_head(
            in_dim, hidden_dims, latent_dim, n_members=n_members
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@fill_doc
class MLPDecoder(nn.Module):
    """Map ``(n, latent_dim)`` codes to ``(n, out_dim)`` rows (linear output).

    Parameters
    ----------
    %(latent_dim)s
    hidden_dims : sequence of int
        Widths of the hidden layers, *input side first*; the decoder uses
        them in reverse so that it mirrors :class:`MLPEncoder`.
    out_dim : int
        Number of output features.
    %(n_members)s
    """

    def __init__(
        self, latent_dim: int, hidden_dims: Sequence[int], out_dim: int, n_members: int = 1
    ):
        super().__init__()
        # ReLU, and batch normalisation from the first layer on, as DCGAN's generator.
        self.body, self.head = _stack_and_head(
            latent_dim,
            list(hidden_dims)[::-1],
            out_dim,
            first_norm=True,
            leaky=False,
            n_members=n_members,
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(z))


@fill_doc
class MLPDiscriminator(nn.Module):
    """Discriminator returning ``(logit, features)``.

    ``features`` is the last hidden layer, the intermediate representation
    ``f(x)`` used for feature matching by AnoGAN and GANomaly.

    Parameters
    ----------
    %(in_dim)s
    hidden_dims : sequence of int
        Widths of the hidden layers.
    %(n_members)s
    """

    def __init__(self, in_dim: int, hidden_dims: Sequence[int], n_members: int = 1):
        super().__init__()
        self.features, self.classifier = _stack_and_head(
            in_dim, hidden_dims, 1, n_members=n_members
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(x)
        return self.classifier(features).squeeze(1), features


@fill_doc
class MLPJointDiscriminator(nn.Module):
    """BiGAN discriminator ``D(x, z)`` returning ``(logit, features)``.

    ``x`` and ``z`` each pass through their own branch; the branches are
    concatenated and passed through a joint layer whose output is the
    feature layer ``f(x, z)`` (Zenati et al. 2018, section 3).

    Parameters
    ----------
    %(in_dim)s
    hidden_dims : sequence of int
        Widths of the ``x`` branch; the ``z`` branch has the width of the
        last, the joint layer that of the first.
    %(latent_dim)s
    %(n_members)s
    """

    def __init__(
        self, in_dim: int, hidden_dims: Sequence[int], latent_dim: int, n_members: int = 1
    ):
        super().__init__()
        stack = {"first_norm": False, "leaky": True, "n_members": n_members}
        self.x_branch, x_width = _dense_stack(in_dim, hidden_dims, batch_norm=True, **stack)
        self.z_branch, z_width = _dense_stack(
            latent_dim, [hidden_dims[-1]], batch_norm=False, **stack
        )
        self.joint, width = _dense_stack(
            x_width + z_width, [hidden_dims[0]], batch_norm=False, **stack
        )
        self.classifier = _linear(n_members, width, 1)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.joint(torch.cat([self.x_branch(x), self.z_branch(z)], dim=1))
        return self.classifier(features).squeeze(1), features
