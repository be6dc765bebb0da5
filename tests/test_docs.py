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


# ----------------------------------------------------------------------
# The API reference lists every public name of every public module
# ----------------------------------------------------------------------
def _api_reference():
    sys.path.insert(0, str(REPO / "docs" / "sphinxext"))
    try:
        import api_reference
    finally:
        sys.path.remove(str(REPO / "docs" / "sphinxext"))
    return api_reference


def test_api_reference_lists_every_public_name():
    import importlib
    import pkgutil

    import skanomaly

    text = _api_reference().listing()
    # What the listing documents: autosummary entries under their module, and
    # the cross-references of names exported by several modules.
    documented, module = {}, None
    for line in text.splitlines():
        if line.startswith(".. currentmodule:: "):
            module = line.split()[-1]
        elif line.startswith("   ") and not line.strip().startswith(":") and line.strip():
            name = f"{module}.{line.strip()}"
            documented[name] = name
        for alias, target in re.findall(r":py:\w+:`(\w+) <([\w.]+)>`", line):
            documented[f"{module}.{alias}"] = target

    def resolve(full_name):
        module_name, _, name = full_name.rpartition(".")
        return getattr(importlib.import_module(module_name), name)

    # Every public module, found independently of the generator, sub-modules included.
    modules = ["skanomaly"] + [
        info.name
        for info in pkgutil.walk_packages(skanomaly.__path__, prefix="skanomaly.")
        if not any(part.startswith("_") for part in info.name.split("."))
    ]
    assert {"skanomaly.datasets", "skanomaly.plot", "skanomaly.networks.dcgan"} <= set(modules)
    missing = []
    for module_name in modules:
        module = importlib.import_module(module_name)
        assert hasattr(module, "__all__"), f"{module_name} has no __all__"
        for name in module.__all__:
            if name.startswith("__"):
                continue
            obj = getattr(module, name)
            full = f"{module_name}.{name}"
            if full in documented:
                assert resolve(documented[full]) is obj, full
            elif not any(resolve(n) is obj for n in documented.values()):
                missing.append(full)
    assert not missing, missing
    # The names the issue found missing, by name.
    for name in ("datasets.write_mvtec_folder", "datasets.make_synthetic_defects",
                 "plot.anomaly_heatmaps", "plot.heatmap_pictures"):  # fmt: skip
        assert f"skanomaly.{name}" in documented


def test_api_page_includes_the_generated_listing():
    api = (REPO / "docs" / "api.rst").read_text()
    assert ".. include:: _generated_api.rst" in api
    conf = (REPO / "docs" / "conf.py").read_text()
    assert '"api_reference"' in conf and 'autosummary_generate = ["_generated_api.rst"]' in conf
