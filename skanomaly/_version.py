"""The package version and the names of the file formats it writes.

Whoever needs the version (the command line, model files, ONNX metadata,
the build) imports it from here, not from the package's ``__init__``.
"""

__version__ = "0.1.0"

# The file formats skanomaly writes: model files (:func:`skanomaly.save`),
# and the model files of ``skanomaly train``, which are model files whose
# metadata names this second format and holds the image preprocessing and
# the training images' scores.
MODEL_FORMAT = "skanomaly-model"
MODEL_FORMAT_VERSION = 1
IMAGE_MODEL_FORMAT = "skanomaly-image-model"
