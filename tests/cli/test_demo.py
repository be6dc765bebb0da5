"""``skanomaly demo``."""

from __future__ import annotations

import re

import pytest

from skanomaly.cli import main

from ..conftest import fails_with_one_line


def test_demo_runs(tmp_path, capsys):
    argv = ["demo", "--output", str(tmp_path), "--epochs", "1", "--n-filters", "4"]
    assert main([*argv, "--detectors", "ganomaly", "--n-images", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"GANomalyDetector\s+\d\.\d{3}\s+\d\.\d{3}", out)
    assert (tmp_path / "demo_ganomaly.png").is_file()


@pytest.mark.parametrize("n_images", ["0", "-2"])
def test_demo_n_images_is_checked(n_images, tmp_path, capsys):
    argv = ["demo", "--n-images", n_images, "--output", str(tmp_path / "d"), "--epochs", "1"]
    out = fails_with_one_line(capsys, argv, "--n-images must be in \\[1, 20\\]")
    assert "training on" not in out
