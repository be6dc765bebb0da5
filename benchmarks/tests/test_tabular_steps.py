"""tabular_steps.py: each point of the curve is what a fit stopped there gives."""

from __future__ import annotations

import re

from tabular_steps import main

# scikit-learn's breast cancer: 341 training rows, 6 steps an epoch at batch 64
# for one network (an ensemble's members train on bags of the rows).
OPTIONS = [
    *("--dataset", "breast_cancer", "--seeds", "1", "--detectors", "EGBAD"),
    *("--param", "n_estimators=1"),
]


def test_points_are_fits_of_that_many_steps(capsys):
    curves = main([*OPTIONS, "--param", "n_epochs=3", "--steps", "6", "12", "99"])
    (curve,) = curves["EGBAD"]
    assert [steps for steps, _ in curve] == [6, 12, "end"]  # 99: beyond the fit, no point
    out = capsys.readouterr().out
    assert re.search(r"EGBAD: 3 epochs, fit [\d.]+ s; 6:\d\.\d{3} 12:\d\.\d{3} end:\d\.\d{3}", out)
    assert "IsolationForest" in out and "mean ROC-AUC over 1 splits" in out
    for epochs, (_, auc) in zip((1, 2), curve, strict=False):
        (alone,) = main([*OPTIONS, "--param", f"n_epochs={epochs}", "--steps", "1"])["EGBAD"]
        assert alone[-1] == ("end", auc)
