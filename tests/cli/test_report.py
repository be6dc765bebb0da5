"""Report files: whole, one run at a time, unique map names, the user's umask."""

from __future__ import annotations

import csv
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skanomaly.cli import main
from skanomaly.datasets import load_image_folder
from skanomaly.plot import MASK_COLOUR

from ..conftest import fails_with_one_line
from .conftest import scores_csv, train_argv


def test_score_maps_writes_one_heat_map_per_image(mvtec_model, mvtec_dir, tmp_path, capsys):
    report = tmp_path / "report"
    argv = ["score", str(mvtec_model), str(mvtec_dir), "--output", str(report), "--maps"]
    assert main([*argv, "--quiet"]) == 0
    # maps/<path under test/>.png: the input's whole name, its suffix included
    test_images = sorted(
        f"{p.relative_to(mvtec_dir / 'test')}.png" for p in mvtec_dir.glob("test/*/*")
    )
    written = sorted(str(p.relative_to(report / "maps")) for p in (report / "maps").rglob("*.png"))
    assert written == test_images
    data = load_image_folder(mvtec_dir / "test", return_masks=True)
    for path, mask in zip(data.paths, data.masks, strict=True):
        relative = Path(path).relative_to(mvtec_dir / "test")
        with Image.open(report / "maps" / f"{relative}.png") as image:
            assert image.size == (64, 64)  # 8x8 enlarged
            picture = np.asarray(image.convert("RGB"))
        outlined = np.all(picture == np.round(np.multiply(MASK_COLOUR, 255)), axis=-1)
        assert outlined.any() == mask.any()


def test_maps_are_unique_per_input_file(model_file, tmp_path, capsys):
    folder = tmp_path / "same_stem"
    folder.mkdir()
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(folder / "x.png")
    Image.fromarray(np.full((8, 8), 255, dtype=np.uint8)).save(folder / "x.jpg", quality=95)
    report = tmp_path / "r"
    argv = ["score", str(model_file), str(folder), "--output", str(report), "--maps"]
    assert main([*argv, "--quiet"]) == 0
    maps = sorted(p.name for p in (report / "maps").iterdir())
    assert maps == ["x.jpg.png", "x.png.png"]
    pictures = [np.asarray(Image.open(report / "maps" / name)) for name in maps]
    assert not np.array_equal(*pictures)
    with Image.open(report / "maps_colour_scale.png") as scale:
        assert scale.width > scale.height > 50


def test_non_utf8_file_names_are_reported(model_file, tmp_path, capsys):
    folder = tmp_path / "odd"
    folder.mkdir()
    for name in (b"plain.png", b"caf\xe9.png"):  # Latin-1 bytes: not UTF-8
        Image.new("L", (8, 8), 90).save(os.path.join(os.fsencode(folder), name))
    report = tmp_path / "report"
    assert (
        main(["score", str(model_file), str(folder), "--output", str(report), "--top-k", "2"]) == 0
    )
    capsys.readouterr()
    with open(report / "scores.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(os.path.basename(r["path"]) for r in rows) == ["caf\\udce9.png", "plain.png"]
    assert not [p for p in report.iterdir() if p.name.startswith(".")]


@pytest.mark.skipif(os.name == "nt", reason="the folder lock is flock on POSIX")
def test_a_busy_report_folder_is_refused(model_file, data_dir, tmp_path, capsys):
    import fcntl

    report = tmp_path / "report"
    report.mkdir()
    argv = ["score", str(model_file), str(data_dir), "--output", str(report), "--quiet"]
    holder = os.open(report, os.O_RDONLY)  # as another score run holds it
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        out = fails_with_one_line(capsys, argv, "in use by another skanomaly score run")
    finally:
        os.close(holder)
    assert "Scored" not in out and not list(report.iterdir())
    assert main(argv) == 0  # free again


def test_two_score_runs_into_one_folder_do_not_mix(model_file, data_dir, tmp_path):
    # Started together, each either writes a whole report of its own or is refused.
    report = tmp_path / "report"
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "skanomaly",
                "score",
                str(model_file),
                str(data_dir),
                "--output",
                str(report),
                "--quiet",
                "--top-k",
                str(k),
                "--device",
                "cpu",
            ],
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for k in (2, 3)
    ]
    results = [(run.wait(timeout=300), *run.communicate()) for run in runs]
    assert all(code == 0 or "in use" in err for code, _, err in results), results
    record = json.loads((report / "run.json").read_text())
    assert record["metrics"] == json.loads((report / "metrics.json").read_text())
    assert all((report / name).exists() for name in record["files"])
    assert len(scores_csv(report)) == record["metrics"]["n_images"]


def test_a_failed_write_leaves_no_half_written_report(
    model_file, data_dir, tmp_path, capsys, monkeypatch
):
    report = tmp_path / "report"
    argv = ["score", str(model_file), str(data_dir), "--output", str(report), "--quiet"]
    assert main(argv) == 0
    before = (report / "metrics.json").read_bytes()

    def dump_then_fail(value, handle, **kwargs):  # a disk that fills up half-way
        handle.write(json.dumps(value)[:20])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(json, "dump", dump_then_fail)
    capsys.readouterr()
    fails_with_one_line(capsys, argv, "No space left on device")
    assert (report / "metrics.json").read_bytes() == before  # the earlier run's, whole
    json.loads(before)
    # No run.json: the folder does not claim to hold one run's report.
    assert not (report / "run.json").exists()
    assert not [p for p in report.iterdir() if p.name.startswith(".")]


def _modes(folder):
    return {
        str(path.relative_to(folder)): path.stat().st_mode & 0o777
        for path in [folder, *folder.rglob("*")]
    }


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_every_file_written_follows_the_umask(umask, mvtec_dir, tmp_path, capsys):
    old = os.umask(umask)
    try:
        model = tmp_path / "models" / "m.skan"
        assert main(train_argv(mvtec_dir, model)) == 0
        report = tmp_path / "report"
        argv = ["score", str(model), str(mvtec_dir), "--output", str(report), "--maps"]
        assert main([*argv, "--quiet"]) == 0
        demo = tmp_path / "demo"
        assert main(["demo", "--output", str(demo), "--epochs", "1", "--n-filters", "4",
                     "--detectors", "ganomaly", "--quiet"]) == 0  # fmt: skip
    finally:
        os.umask(old)
    modes = {**_modes(tmp_path / "models"), **_modes(report), **_modes(demo)}
    files = {name: mode for name, mode in modes.items() if "." in Path(name).name}
    assert len(files) > 20 and "scores.csv" in files
    assert set(files.values()) == {0o666 & ~umask}, files
    folders = {name: mode for name, mode in modes.items() if name not in files}
    assert set(folders.values()) == {0o777 & ~umask}, folders
