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
from skanomaly.networks.dcgan import _CodeToMap, _FullKernelConv, _ToImage


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


# The layers that replace oneDNN's slow kernels for the pyramids' ends must
# compute exactly what the torch layer they subclass computes, values and
# gradients, in either memory format and with or without a bias.
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize(
    "layer, parent, input_shape",
    [
        (_FullKernelConv(16, 5, 4, 1, 0), torch.nn.Conv2d, (3, 16, 4, 4)),
        (_CodeToMap(5, 16, 4, 1, 0), torch.nn.ConvTranspose2d, (3, 5, 1, 1)),
        (_ToImage(16, 3, 4, 2, 1), torch.nn.ConvTranspose2d, (3, 16, 8, 6)),
        (_ToImage(16, 1, 4, 2, 1), torch.nn.ConvTranspose2d, (3, 16, 4, 4)),
    ],
    ids=["full-kernel-conv", "code-to-map", "to-rgb-image", "to-grey-image"],
)
def test_fast_layers_match_torch_layers(layer, parent, input_shape, bias, channels_last):
    torch.manual_seed(0)
    layer = type(layer)(
        layer.in_channels,
        layer.out_channels,
        layer.kernel_size,
        layer.stride,
        layer.padding,
        bias=bias,
    )
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    layer = layer.to(memory_format=memory_format)
    x = torch.randn(input_shape).to(memory_format=memory_format).requires_grad_()
    fast = layer(x)
    weights = torch.randn(fast.shape)  # a random upstream gradient
    fast_grads = torch.autograd.grad((fast * weights).sum(), [x, *layer.parameters()])
    plain = parent.forward(layer, x)
    plain_grads = torch.autograd.grad((plain * weights).sum(), [x, *layer.parameters()])
    assert fast.shape == plain.shape
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-5)
    for got, expected in zip(fast_grads, plain_grads, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
