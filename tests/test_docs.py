"""The documentation runs: every example script, and the README's Python snippets."""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
EXAMPLES = REPO / "examples"
# Every example, as the docs' gallery runs every one.
SCRIPTS = sorted(path.name for path in EXAMPLES.glob("*.py"))


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README.md has no python examples"
    monkeypatch.chdir(tmp_path)  # the snippets write model files
    namespace: dict = {}
    for block in blocks:  # later blocks use names from earlier ones
        exec(compile(block, str(README), "exec"), namespace)
    assert set(namespace["detector"].predict(namespace["X_test"])) <= {-1, 1}
    assert (tmp_path / "ganomaly.joblib").exists()


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs(script, tmp_path, monkeypatch, capsys):
    # Each with its fast settings, so none of them rots.
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
