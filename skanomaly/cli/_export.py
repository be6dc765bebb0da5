"""``skanomaly export MODEL OUT.onnx``: a trained model as an ONNX graph."""

from __future__ import annotations

from pathlib import Path

from ._common import CommandError, shape_text
from ._models import is_image_model, read_model_file


def run(args) -> int:
    """Export the model and say what the graph takes and returns."""
    from ..export import export_onnx

    metadata, detector, _ = read_model_file(Path(args.model))
    try:
        written = export_onnx(detector, args.output, opset=args.opset)
    except ImportError as exc:  # the optional extra is missing: say how to get it
        raise CommandError(str(exc)) from exc
    shape = detector.image_shape_ or (detector.n_features_in_,)
    print(
        f"Exported {type(detector).__name__} to {written}: input 'X', float32 of shape "
        f"(n, {', '.join(str(s) for s in shape)}); outputs 'anomaly_score' (n,) and "
        f"'anomaly_map' (shape of X); outlier when anomaly_score > {-detector.offset_:.6g}"
    )
    if is_image_model(metadata):
        print(
            "Feed it images as skanomaly train read them: values in [0, 1], "
            f"{'grey' if shape[0] == 1 else 'RGB'}, {shape_text(shape[1:])} pixels."
        )
    return 0
