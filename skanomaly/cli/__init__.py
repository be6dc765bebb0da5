"""The ``skanomaly`` console command.

``skanomaly demo``
    Trains the detectors on one digit of scikit-learn's embedded 8x8 digits,
    prints a ROC-AUC table and writes pictures of the most and least
    anomalous test images.
``skanomaly train DATA_DIR --detector NAME --output MODEL``
    Trains a detector on the images of ``DATA_DIR/train`` and saves it;
    options left out keep the detector's Python defaults.
``skanomaly score MODEL DATA_DIR --output REPORT_DIR``
    Scores the images of ``DATA_DIR/test`` (resized to the model's size
    where they differ): a CSV of scores; ROC-AUC, average precision and
    precision, recall and F1 at the threshold when the folders give labels;
    pixel ROC-AUC and AUPRO when ``DATA_DIR/ground_truth`` holds defect
    masks (the MVTec AD layout); and pictures.
``skanomaly export MODEL OUT.onnx``
    Writes a GANomaly or EGBAD model file as an ONNX graph.

Every run records what produced it: ``train`` in the model file's
metadata (``skanomaly.persistence.read_metadata(MODEL)["run"]``), ``score``
in ``REPORT_DIR/run.json`` (command line, versions, the model's file hash
and parameters, the threshold, the metrics and the files written). Report
files are written whole, through a temporary file, with the permissions
the umask gives; a report folder that another ``score`` run is writing is
refused.

The folder layout and the labelling rule are those of
:func:`skanomaly.datasets.load_image_folder`. User errors (a missing or
empty folder, an unreadable image, a file that is not a skanomaly model,
swapped arguments) end the command with one line on stderr and exit
status 1; ``--traceback`` shows the full Python traceback instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from .._registry import DETECTOR_NAMES, detector_class

# Importable from here, as before the package split; "X as X": re-exported.
from ._common import CommandError as CommandError
from ._models import load_model as load_model
from ._models import save_model as save_model
from ._params import PARAMETER_FLAGS as PARAMETER_FLAGS
from ._parser import build_parser as build_parser
from ._parser import main

# torch, scikit-learn and the detectors are imported inside the commands
# that use them: ``skanomaly --help`` and every ``--help`` answer at once.

__all__ = ["DETECTORS", "main"]


class _Detectors(Mapping):
    """Command-line name -> detector class; the detectors are imported at the first look-up."""

    def __getitem__(self, name):
        if name not in DETECTOR_NAMES:  # detector_class also takes class names
            raise KeyError(name)
        return detector_class(name)

    def __iter__(self):
        return iter(DETECTOR_NAMES)

    def __len__(self):
        return len(DETECTOR_NAMES)


#: The ``--detector`` names and their classes (a read-only mapping that
#: imports the detectors at the first look-up).
DETECTORS = _Detectors()
