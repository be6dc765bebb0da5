"""Run every example script with its fast settings, so none of them rots."""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# Every example, as the docs' gallery runs every one.
SCRIPTS = sorted(path.name for path in EXAMPLES.glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs(script, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SKANOMALY_EXAMPLE_FAST", "1")
    monkeypatch.chdir(tmp_path)  # examples write their files under the working directory
    monkeypatch.setattr(sys, "argv", [script])
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    out = capsys.readouterr().out
    assert out.strip(), f"{script} printed nothing"
    if script == "image_folder.py":
        report = tmp_path / "image_folder_example"
        for name in ("most_anomalous.png", "scores.png", "losses.png"):
            assert (report / name).stat().st_size > 0
        assert "ROC-AUC on test/" in out
    elif script == "persistence.py":
        assert "identical" in out
    elif script == "defect_masks.py":
        report = tmp_path / "defect_masks_example"
        assert (report / "most_anomalous.png").stat().st_size > 0
        assert len(list((report / "maps").glob("*.png"))) == len(
            list((report / "data" / "ground_truth").rglob("*_mask.png"))
        )
        assert re.search(r"GANomaly\s+\d\.\d{3}\s+\d\.\d{3}\s+\d\.\d{3}", out)
