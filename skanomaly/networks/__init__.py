"""Pure :mod:`torch.nn` building blocks: MLP (tabular) and DCGAN (image) backbones.

Nothing in this package knows about scikit-learn; the detectors in
:mod:`skanomaly.detectors` get their networks from :class:`Backbone`.
"""

from . import dcgan, encoder_decoder_encoder, factory, init, mlp

# The public names of the submodules, each listed once: in its module's __all__.
from .dcgan import *  # noqa: F403
from .encoder_decoder_encoder import *  # noqa: F403
from .factory import *  # noqa: F403
from .init import *  # noqa: F403
from .mlp import *  # noqa: F403

__all__ = sorted(
    name
    for module in (dcgan, encoder_decoder_encoder, factory, init, mlp)
    for name in module.__all__
)
