"""Pure :mod:`torch.nn` building blocks: MLP (tabular) and DCGAN (image) backbones.

Nothing in this package knows about scikit-learn; the detectors in
:mod:`skanomaly.detectors` get their networks from :class:`Backbone`.
"""

from .dcgan import (
    DCGANDecoder,
    DCGANDiscriminator,
    DCGANEncoder,
    DCGANJointDiscriminator,
    padded_side,
)
from .encoder_decoder_encoder import EncoderDecoderEncoder
from .factory import Backbone
from .init import dcgan_init, reinitialize
from .mlp import (
    EnsembleBatchNorm1d,
    EnsembleLinear,
    MLPDecoder,
    MLPDiscriminator,
    MLPEncoder,
    MLPJointDiscriminator,
)

__all__ = [
    "Backbone",
    "DCGANDecoder",
    "DCGANDiscriminator",
    "DCGANEncoder",
    "DCGANJointDiscriminator",
    "EncoderDecoderEncoder",
    "EnsembleBatchNorm1d",
    "EnsembleLinear",
    "MLPDecoder",
    "MLPDiscriminator",
    "MLPEncoder",
    "MLPJointDiscriminator",
    "dcgan_init",
    "padded_side",
    "reinitialize",
]
