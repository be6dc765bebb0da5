"""A safe file format for fitted detectors: weights and numbers, never code.

``joblib.dump`` / ``pickle`` store any Python object, and loading a pickle
runs whatever code the file names: fine for your own models, dangerous for
a file from someone else.  :func:`save` writes a zip archive that holds only

- ``manifest.json``: the format version, the versions of skanomaly, torch,
  scikit-learn and numpy that wrote it, the detector's class name, its
  constructor parameters and its fitted attributes (numbers, strings,
  tuples, lists, dicts), and a SHA-256 digest of each other member;
- ``arrays.npz``: the fitted numeric arrays (``shift_``, ``scale_``, ...),
  read back as plain ``.npy`` arrays (no pickled objects), each header
  checked before its values are read;
- ``weights.pt``: each network's ``state_dict``, read back with
  ``torch.load(weights_only=True)``.

:func:`load` looks the class name up in a fixed list of skanomaly detectors
(nothing is imported by name), re-creates the networks with the detector's
own ``_build_networks`` from the restored sizes, and loads the weights into
them.  Anything unexpected (not a zip, a zip layer holding other members or
compression methods than these, a missing or malformed manifest, an unknown
class or parameter, a digest that does not match, a weights file that would
need to unpickle code, a tensor that is not exactly what the networks hold)
raises :class:`~skanomaly.exceptions.ModelFileError`, a ``ValueError``,
before any of it is used.  What ``load`` allocates and computes is bounded
by the "Model files" limits of ``skanomaly._limits``, whatever the file
says (docs/persistence.md).
"""

# The parts: _zip (the zip layers, capped reading, writing), _codec (values
# <-> JSON and arrays.npz), _checks (sizes, values, tensors, the scoring
# probe), and _save / _load, which put them together; the library versions
# that files and pickles record are skanomaly._runtime's.
from .._version import MODEL_FORMAT_VERSION
from ._load import load, read_metadata
from ._save import save

#: The version of the model file format :func:`save` writes, the newest
#: :func:`load` reads.
FORMAT_VERSION = MODEL_FORMAT_VERSION

__all__ = ["FORMAT_VERSION", "load", "read_metadata", "save"]
