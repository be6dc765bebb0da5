"""Pure :mod:`torch.nn` building blocks: MLP (tabular) and DCGAN (image) backbones.

Nothing in this package knows about scikit-learn; the detectors in
:mod:`skanomaly.detectors` get their networks from :class:`Backbone`.
"""

from . import dcgan, encoder_decoder_encoder, factory, init, mlp

# Re-exported by name (``X as X``); each module's __all__ lists its public names once.
from .dcgan import DCGANDecoder as DCGANDecoder
from .dcgan import DCGANDiscriminator as DCGANDiscriminator
from .dcgan import DCGANEncoder as DCGANEncoder
from .dcgan import DCGANJointDiscriminator as DCGANJointDiscriminator
from .dcgan import padded_side as padded_side
from .encoder_decoder_encoder import EncoderDecoderEncoder as EncoderDecoderEncoder
from .factory import Backbone as Backbone
from .init import dcgan_init as dcgan_init
from .init import reinitialize as reinitialize
from .mlp import EnsembleBatchNorm1d as EnsembleBatchNorm1d
from .mlp import EnsembleLinear as EnsembleLinear
from .mlp import MLPDecoder as MLPDecoder
from .mlp import MLPDiscriminator as MLPDiscriminator
from .mlp import MLPEncoder as MLPEncoder
from .mlp import MLPJointDiscriminator as MLPJointDiscriminator

__all__ = sorted(
    name
    for module in (dcgan, encoder_decoder_encoder, factory, init, mlp)
    for name in module.__all__
)
