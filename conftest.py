"""pytest settings for the whole checkout (the doctests in ``skanomaly/`` included)."""

import importlib.util

# export.py's docstring example runs an exported model: it needs the optional
# 'export' extra, like tests/test_export.py, which skips without it.
_EXPORT_EXTRA = ("onnx", "onnxruntime", "onnxscript")
collect_ignore = (
    []
    if all(importlib.util.find_spec(name) for name in _EXPORT_EXTRA)
    else ["skanomaly/export.py"]
)
