"""Export a fitted detector to ONNX, for scoring without Python or PyTorch.

The exported graph does what ``score_samples`` and ``anomaly_map`` do for
one batch: it takes raw float32 input in the detector's layout, scales it
as ``fit`` learned (``(X - shift_) / scale_``, clipped like the estimator's
input), runs the networks in ``eval()`` mode and returns

- ``anomaly_score``, shape ``(n,)``: higher = more abnormal, i.e.
  ``-score_samples(X)``;
- ``anomaly_map``, the shape of ``X``: ``|X - reconstruct(X)|`` in the
  input's units.

The batch size ``n`` is free. Only detectors whose score is one forward
pass can be exported: :class:`~skanomaly.GANomalyDetector` and
:class:`~skanomaly.EGBADDetector`. :class:`~skanomaly.AnoGANDetector`
scores each sample by a gradient-descent search of its latent code, which
an ONNX graph cannot express.

Needs the ``export`` extra (onnx, onnxscript and onnxruntime), see the
installation page.
"""

from __future__ import annotations

import copy
import json
from numbers import Integral
from pathlib import Path
from types import SimpleNamespace

import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._base import BaseGANDetector
from ._inputs import _INPUT_LIMIT
from ._io import atomic_write
from ._version import __version__
from .detectors import AnoGANDetector, EGBADDetector, GANomalyDetector

__all__ = ["export_onnx"]

INPUT_NAME = "X"
OUTPUT_NAMES = ("anomaly_score", "anomaly_map")
_EXPORTABLE = (EGBADDetector, GANomalyDetector)
# The oldest opset torch's exporter writes these graphs in (see export_onnx).
_MIN_OPSET = 18


class _ScoringGraph(nn.Module):
    """Raw input -> (anomaly score, anomaly map), through the detector's own hooks.

    Holds CPU float32 copies of the networks and the input scaling as
    float64 buffers, so the exported graph is self-contained; the detector
    itself is only read.  The input is scaled in float64 and only then cast
    to float32, as ``_to_tensor`` does: features far from zero (a mean of
    5e6 with a spread of 1) keep their digits, which a float32 shift loses.
    """

    def __init__(self, detector: BaseGANDetector):
        super().__init__()
        self.detector = detector  # a plain object: not a submodule, not exported
        nets = detector._network_namespace()
        self.nets = nn.ModuleDict(
            {
                name: copy.deepcopy(net).to("cpu", torch.float32).eval()
                for name, net in vars(nets).items()
            }
        )
        shape = (1, *detector.image_shape_) if detector.image_shape_ is not None else (1, -1)
        for name in ("shift", "scale"):
            value = torch.as_tensor(getattr(detector, f"{name}_"), dtype=torch.float64)
            self.register_buffer(name, value.reshape(shape))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        nets = SimpleNamespace(**self.nets)
        x = x.double()
        # As ``_to_tensor``: an overflow to inf is saturated like any far-out value.
        scaled = ((x - self.shift) / self.scale).clamp(-_INPUT_LIMIT, _INPUT_LIMIT).float()
        score = self.detector._ensemble_score(nets, scaled)
        # A NaN feature makes the row's score NaN: clamping (and max-based
        # activations) in some runtimes would turn it into a finite number.
        missing = torch.isnan(x.flatten(1)).any(1)
        score = torch.where(missing, torch.full_like(score, float("nan")), score)
        x_hat = self.detector._ensemble_reconstruct(nets, scaled).double() * self.scale
        # Against the raw input, as ``anomaly_map``: clipping does not shrink the map.
        return score, (x - (x_hat + self.shift)).abs().float()


def _check_exportable(detector) -> None:
    if isinstance(detector, AnoGANDetector):
        raise ValueError(
            "AnoGANDetector cannot be exported to ONNX: its score is a gradient-descent "
            "search of each sample's latent code, not a forward pass; EGBADDetector and "
            "GANomalyDetector, whose encoder replaces the search, can be."
        )
    if not isinstance(detector, _EXPORTABLE):
        raise TypeError(
            "export_onnx exports a fitted EGBADDetector or GANomalyDetector, "
            f"got {type(detector).__name__}."
        )
    check_is_fitted(detector)


def export_onnx(detector, path, *, opset=None) -> Path:
    """Write a fitted detector's scoring as an ONNX model.

    The graph has one input, ``"X"``: float32 raw data in the detector's
    layout with any number of rows, ``(n, n_features_in_)`` for tabular
    data, ``(n, C, H, W)`` for images (flattened or ``(n, H, W)`` images
    are reshaped to ``(n, *image_shape_)`` first). The input scaling
    learned in ``fit`` is part of the graph. It has two outputs:

    - ``"anomaly_score"``, shape ``(n,)``: higher = more abnormal, equal to
      ``-detector.score_samples(X)`` up to float32 rounding;
    - ``"anomaly_map"``, the shape of ``X``: ``detector.anomaly_map(X)``,
      ``|X - reconstruct(X)|`` in the input's units.

    A sample is an outlier when its anomaly score is above ``-offset_``;
    the model's metadata (``metadata_props``) records that threshold as
    ``"threshold"``, with the detector's class and the skanomaly version.

    Parameters
    ----------
    detector : GANomalyDetector or EGBADDetector
        A fitted detector.
    path : str or path-like
        The ``.onnx`` file to write. It is written to a temporary file in
        the same folder first and then renamed, so a failed export never
        leaves a partial file.
    opset : int, default=None
        ONNX opset version, 18 or later; ``None`` takes the exporter's
        default.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        For an :class:`~skanomaly.AnoGANDetector` (its score is a search,
        not a forward pass), an unfitted detector or an opset before 18.
    TypeError
        For any other object.
    ImportError
        When ``onnx`` or ``onnxscript`` is not installed.

    Notes
    -----
    The graph is captured with PyTorch's ``torch.export``-based ONNX
    exporter (``torch.onnx.export(..., dynamo=True)``, the default since
    PyTorch 2.9; the TorchScript-based one is deprecated), which needs the
    ``onnxscript`` package. The input is scaled in float64, as in
    ``score_samples``, and the networks run in float32, so the scores match
    ``score_samples`` to a few 1e-6 relative, not exactly, also for
    features far from zero. A row with a NaN feature gets a NaN score
    (``score_samples`` refuses it).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import onnxruntime
    >>> from skanomaly import GANomalyDetector, export_onnx
    >>> X = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
    >>> detector = GANomalyDetector(n_epochs=2, random_state=0).fit(X)
    >>> path = export_onnx(detector, os.path.join(tempfile.mkdtemp(), "model.onnx"))
    >>> session = onnxruntime.InferenceSession(path)
    >>> score, anomaly_map = session.run(None, {"X": X[:5]})
    >>> np.allclose(score, -detector.score_samples(X[:5]), rtol=1e-4, atol=1e-6)
    True
    >>> anomaly_map.shape
    (5, 3)
    """
    _check_exportable(detector)
    if opset is not None and (isinstance(opset, bool) or not isinstance(opset, Integral)):
        raise TypeError(f"opset must be an int or None, got {opset!r}")
    if opset is not None and opset < _MIN_OPSET:
        # Older opsets go through ONNX's version converter, which fails on
        # these graphs and leaves them at 18 without saying so.
        raise ValueError(f"opset must be {_MIN_OPSET} or later, got {opset}")
    for module in ("onnx", "onnxscript"):
        try:
            __import__(module)
        except ImportError as exc:
            raise ImportError(
                f"export_onnx needs {module}, from skanomaly's 'export' extra: "
                "pip install onnx onnxscript onnxruntime"
            ) from exc

    graph = _ScoringGraph(detector).eval()
    example_shape = (
        (2, *detector.image_shape_) if detector.image_shape_ else (2, detector.n_features_in_)
    )
    with torch.no_grad():
        program = torch.onnx.export(
            graph,
            (torch.zeros(example_shape),),
            None,  # in memory: the file is written below, atomically
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
            dynamic_shapes=({0: torch.export.Dim("n")},),
            opset_version=opset,
            verbose=False,
        )
    model = program.model_proto
    metadata = {
        "producer": "skanomaly",
        "skanomaly_version": __version__,
        "detector": type(detector).__name__,
        "threshold": repr(-float(detector.offset_)),
        "input_shape": json.dumps(["n", *example_shape[1:]]),
    }
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.doc_string = (
        f"skanomaly {type(detector).__name__}: input {INPUT_NAME!r} float32 raw data; outputs "
        "'anomaly_score' (higher = more abnormal; outlier above metadata 'threshold') and "
        "'anomaly_map' (|X - reconstruction|)."
    )
    path = Path(path)
    with atomic_write(path) as handle:
        handle.write(model.SerializeToString())
    return path
