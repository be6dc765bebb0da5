"""The command line itself: ``--help``, entry points, flags, one-line errors."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import skanomaly
from skanomaly.cli import DETECTORS, CommandError, main

from .conftest import FLAG, option_strings


def test_detectors_mapping_lists_the_exported_detectors():
    import skanomaly

    assert DETECTORS["ganomaly"] is skanomaly.GANomalyDetector
    for name, cls in DETECTORS.items():
        assert cls.__name__.lower().startswith(name)


@pytest.mark.parametrize("command", [[], ["demo"], ["train"], ["score"]])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    assert "usage: skanomaly" in capsys.readouterr().out


def test_python_dash_m_skanomaly():
    result = subprocess.run(
        [sys.executable, "-m", "skanomaly", "--version"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert result.returncode == 0, result.stderr
    import skanomaly

    assert result.stdout.strip() == skanomaly.__version__


def test_every_flag_named_in_the_command_source_exists():
    import ast

    import skanomaly.cli
    from skanomaly.cli import build_parser

    parser = build_parser()
    (subparsers,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    known = option_strings().union(*(option_strings(name) for name in subparsers.choices))
    # Every module of the command's package, the parameter table included.
    sources = sorted(Path(skanomaly.cli.__file__).parent.glob("*.py"))
    assert len(sources) > 5
    texts = [
        node.value
        for source in sources
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    named = {flag for text in texts for flag in FLAG.findall(text)}
    assert named and named <= known, named - known


def test_traceback_flag_shows_the_exception(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        main(
            [
                "--traceback",
                "train",
                str(tmp_path / "no"),
                "--detector",
                "ganomaly",
                "--output",
                "m",
            ]
        )


HEAVY_MODULES = ("torch", "torchvision", "sklearn", "scipy", "matplotlib", "pyod", "PIL")


@pytest.mark.parametrize("command", [[], ["demo"], ["train"], ["score"], ["export"]])
def test_help_imports_no_heavy_module(command):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "skanomaly", *command, "--help"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert result.returncode == 0 and "usage: skanomaly" in result.stdout
    # -X importtime lists every module imported, one per line: "import time: ... | name".
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    heavy = {name for name in imported if name.split(".")[0] in HEAVY_MODULES}
    assert not heavy, sorted(heavy)[:10]


def test_importing_the_package_and_the_command_imports_no_torch():
    code = (
        "import sys, skanomaly, skanomaly.cli; skanomaly.cli.build_parser(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'sklearn')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert result.stdout.strip() == "[]"
    # ... and the names still resolve, on first use.
    assert skanomaly.GANomalyDetector.__module__ == "skanomaly.detectors.ganomaly"
    assert set(dir(skanomaly)) >= set(skanomaly.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        skanomaly.nope  # noqa: B018


def test_default_output_folders_are_ignored_by_git():
    repo = Path(__file__).resolve().parents[2]
    if shutil.which("git") is None or not (repo / ".git").exists():
        pytest.skip("not a git checkout")
    from skanomaly.cli import build_parser

    demo = build_parser().parse_args(["demo"]).output
    paths = [
        f"{demo}/demo_ganomaly.png",  # skanomaly demo, run in the clone
        "image_folder_example/most_anomalous.png",  # python examples/image_folder.py
        "examples/image_folder_example/data/train/0.normal/00000.png",
        "defect_masks_example/maps/000.png",
        "examples/defect_masks_example/most_anomalous.png",
    ]
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", *paths], cwd=repo, capture_output=True, text=True
    )
    assert sorted(result.stdout.split()) == sorted(paths)


def test_detectors_mapping_takes_command_line_names_only():
    assert list(DETECTORS) == ["anogan", "egbad", "ganomaly"] and len(DETECTORS) == 3
    assert "GANomalyDetector" not in DETECTORS
    with pytest.raises(KeyError):
        DETECTORS["GANomalyDetector"]  # noqa: B018
