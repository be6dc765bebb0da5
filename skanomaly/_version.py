"""The package version, in a module of its own.

Whoever needs the version (the command line, model files, ONNX metadata,
the build) imports it from here, not from the package's ``__init__``.
"""

__version__ = "0.1.0"
