"""The networks on their own: output shapes for square and non-square images."""

from __future__ import annotations

import pytest
import torch

from skanomaly.networks import (
    DCGANDecoder,
    DCGANDiscriminator,
    DCGANEncoder,
    DCGANJointDiscriminator,
    MLPDecoder,
    MLPEncoder,
)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 10, 21)])
def test_joint_discriminator_shapes(shape):
    discriminator = DCGANJointDiscriminator(shape, latent_dim=5, n_filters=4)
    logits, features = discriminator(torch.zeros(6, *shape), torch.zeros(6, 5))
    assert logits.shape == (6,)
    assert features.shape == (6, 64)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 10, 21), (1, 32, 16)])
def test_image_encoder_decoder_and_discriminator_shapes(shape):
    encoder = DCGANEncoder(shape, latent_dim=5, n_filters=4)
    decoder = DCGANDecoder(shape, latent_dim=5, n_filters=4)
    codes = encoder(torch.zeros(6, *shape))
    assert codes.shape[0] == 6 and codes.reshape(6, -1).shape[1] == 5
    assert decoder(codes).shape == (6, *shape)
    logits, _ = DCGANDiscriminator(shape, n_filters=4)(torch.zeros(6, *shape))
    assert logits.shape == (6,)


def test_tabular_encoder_decoder_shapes():
    encoder = MLPEncoder(7, hidden_dims=(16, 8), latent_dim=3)
    decoder = MLPDecoder(3, hidden_dims=(8, 16), out_dim=7)
    codes = encoder(torch.zeros(6, 7))
    assert codes.shape == (6, 3)
    assert decoder(codes).shape == (6, 7)
