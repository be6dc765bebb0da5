"""The documentation runs: every example script, and the README's Python snippets."""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import numpy as np
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


# How each example reports the ROC-AUC of its detectors.
MAIN_ROC_AUC = {
    "quickstart.py": r"ROC-AUC (\d\.\d+)",
    "tabular_quickstart.py": r"^\w+Detector\s+(\d\.\d{3})",
    "image_folder.py": r"ROC-AUC on test/: (\d\.\d+)",
    "pipeline_gridsearch.py": r"test ROC-AUC of the refitted best pipeline: (\d\.\d+)",
    "pyod_combination.py": r"ROC:(\d\.\d+)",
    # image and pixel ROC-AUC, then AUPRO, of each row
    "defect_masks.py": r"^\S.*?\s(\d\.\d{3})\s+(\d\.\d{3})\s+\d\.\d{3}$",
}


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
        row = re.search(r"^GANomaly\s+(\d\.\d{3})\s+(\d\.\d{3})\s+\d\.\d{3}", out, re.M)
        # The page shows the method working: image and pixel ROC-AUC of 0.8 or more.
        assert min(float(v) for v in row.groups()) >= 0.8, out
    # Every ROC-AUC an example reports of its method (not the candidates of a
    # grid search) shows it working: 0.6 or more.
    if script in MAIN_ROC_AUC:
        found = re.findall(MAIN_ROC_AUC[script], out, re.M)
        aucs = [float(v) for match in found for v in np.atleast_1d(match)]
        assert aucs and min(aucs) >= 0.6, out


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


# ----------------------------------------------------------------------
# Install instructions, repository wording and the navbar
# ----------------------------------------------------------------------
CPU_INDEX = "--index-url https://download.pytorch.org/whl/cpu"
DOC_PAGES = [
    README,
    *sorted((REPO / "docs").glob("[!_]*.md")),  # not the build's own _generated_api.rst
    *sorted((REPO / "docs").glob("[!_]*.rst")),
]


def _bash_blocks(text):
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def test_readme_keeps_its_two_commands():
    text = README.read_text()
    commands = {}
    for marker in ("main-command", "test-command"):
        after = text.split(f"<!-- {marker} -->", 1)[1]
        commands[marker] = _bash_blocks(after)[0].strip()
    assert commands == {
        "main-command": "python3 -m venv .venv && .venv/bin/pip install -q -e . && "
        ".venv/bin/skanomaly demo",
        "test-command": 'python3 -m venv .venv && .venv/bin/pip install -q -e ".[test]" && '
        ".venv/bin/python -m pytest -q",
    }


@pytest.mark.parametrize("page", ["README.md", "docs/index.md"])
def test_cpu_only_pytorch_install_is_documented(page):
    blocks = _bash_blocks((REPO / page).read_text())
    cpu = [b for b in blocks if CPU_INDEX in b]
    assert cpu, f"{page} has no install from PyTorch's cpu wheel index"
    for block in cpu:
        lines = [line for line in block.replace(" && ", "\n").splitlines() if CPU_INDEX in line]
        # torch and torchvision from the cpu index, before skanomaly itself.
        assert all(
            re.search(r"pip install (-q )?torch torchvision --index-url", ln) for ln in lines
        )
        assert block.index(CPU_INDEX) < block.index("-e .")


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda p: p.name)
def test_docs_carry_no_placeholder_url(page):
    text = page.read_text()
    for placeholder in (
        "REPO_URL",
        "example.com",
        "your-org",
        "YOUR_",
        "<repo",
        "git+URL",
    ):
        assert placeholder not in text, f"{page.name}: {placeholder}"


def test_navbar_titles_fit_a_laptop_width():
    # The top bar shows the first header_links_before_dropdown entries of the
    # root toctrees, then "More"; at about 8 px a character and 32 px of
    # padding a link, 48 characters leave room for the title, the search
    # button and the theme switcher on a 1280 px screen.
    conf = (REPO / "docs" / "conf.py").read_text()
    shown = int(re.search(r'"header_links_before_dropdown": (\d+)', conf).group(1))
    index = (REPO / "docs" / "index.md").read_text()
    entries = [
        line.strip()
        for block in re.findall(r"```\{toctree\}\n(.*?)```", index, flags=re.S)
        for line in block.splitlines()
        if line.strip() and not line.startswith(":")
    ]
    titles = []
    for entry in entries[:shown]:
        explicit = re.match(r"(.+?)\s*<([\w/]+)>$", entry)
        if explicit:
            titles.append(explicit.group(1))
        else:  # the page's own title
            page = next((REPO / "docs").glob(f"{entry}.*"))
            titles.append(page.read_text().splitlines()[0].lstrip("# "))
    assert len(titles) == shown
    assert sum(len(t) for t in titles) + len("More") <= 48, titles


def test_inspection_page_shows_every_method_working():
    # Every ROC-AUC in its result blocks, image and pixel, is 0.6 or more.
    text = (REPO / "docs" / "inspection.md").read_text()
    blocks = [b for b in re.findall(r"```text\n(.*?)```", text, flags=re.S) if "pixel AUC" in b]
    rows = [
        re.match(r"^(.+?)\s+(\d\.\d{3})\s+(\d\.\d{3})\s+\d\.\d{3}(\s+[\d.]+){0,2}$", line)
        for block in blocks
        for line in block.splitlines()
    ]
    aucs = [(row.group(1), float(row.group(2)), float(row.group(3))) for row in rows if row]
    assert len(aucs) >= 10
    assert [row for row in aucs if min(row[1:]) < 0.6] == []
