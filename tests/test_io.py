"""The one atomic writer (skanomaly._io.atomic_write)."""

import os
import stat

import pytest

from skanomaly._io import atomic_write


@pytest.mark.parametrize("durable", [False, True])
def test_replaces_whole_or_not_at_all(tmp_path, monkeypatch, durable):
    path = tmp_path / "model.onnx"
    for data in (b"old", b"new"):
        with atomic_write(path, durable=durable) as handle:
            handle.write(data)
    assert path.read_bytes() == b"new"

    def fail(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"), atomic_write(path) as handle:
        handle.write(b"partial")
    assert path.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["model.onnx"]


def test_an_error_while_writing_leaves_the_old_file(tmp_path):
    path = tmp_path / "run.json"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(path, "w") as handle:
        handle.write("half")
        raise RuntimeError
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["run.json"]


def test_text_is_utf8_and_options_pass_through(tmp_path):
    path = tmp_path / "scores.csv"
    with atomic_write(path, "w", newline="") as handle:
        handle.write("café\r\n")
    assert path.read_bytes() == "café\r\n".encode()


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_usual_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        with atomic_write(tmp_path / "a.png") as handle:
            handle.write(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a.png").st_mode) == 0o640


def test_refuses_other_modes(tmp_path):
    with pytest.raises(ValueError, match="whole files"), atomic_write(tmp_path / "x", "ab"):
        pass
