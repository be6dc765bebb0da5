"""one_class.py: the per-epoch ROC-AUC curve is what fits of each length give."""

from __future__ import annotations

import re

from one_class import main

OPTIONS = ["--data", "digits", "--classes", "1", "--threads", "1"]


def _aucs(text):
    return [float(a) for a in re.findall(r"ROC-AUC (\d\.\d+)", text)]


def test_every_epoch_rows_are_fits_of_that_many_epochs(capsys):
    main(["GANomalyDetector", "n_filters=4", "n_epochs=3", *OPTIONS, "--every-epoch"])
    out = capsys.readouterr().out
    rows = re.findall(r"after epoch (\d) \((\d+) steps\)", out)
    assert [epoch for epoch, _ in rows] == ["1", "2", "3"]
    steps = [int(n) for _, n in rows]
    assert steps[0] > 0 and steps == [steps[0], 2 * steps[0], 3 * steps[0]]
    curve, (final,) = _aucs(out)[:3], _aucs(out)[3:4]
    assert curve[-1] == final  # the fit itself is unchanged
    for epochs, auc in enumerate(curve[:2], start=1):
        main(["GANomalyDetector", "n_filters=4", f"n_epochs={epochs}", *OPTIONS])
        assert _aucs(capsys.readouterr().out)[0] == auc
