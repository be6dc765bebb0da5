"""Values <-> JSON and arrays.npz: only what ``save`` writes is read back."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

import skanomaly
from skanomaly.exceptions import ModelFileError

from .conftest import Payload, members_of, refused, tampered, write_members


def test_load_refuses_malicious_arrays(saved_file, tmp_path):
    marker = tmp_path / "ran"
    buffer = io.BytesIO()
    np.save(buffer, np.array([Payload(marker)], dtype=object), allow_pickle=True)
    npz = write_members(io.BytesIO(), {"array_0.npy": buffer.getvalue()})
    path = tampered(saved_file, members={"arrays.npz": npz.getvalue()})
    with pytest.raises(
        ModelFileError, match="corrupted skanomaly model file: unreadable arrays.npz"
    ):
        skanomaly.load(path)
    assert not marker.exists()


def test_json_tricks_are_refused(model_path):
    contents = members_of(model_path)
    text = contents.pop("manifest.json").decode()
    cases = {
        "deep": ('"metadata": {}', '"metadata": ' + "[" * 200_000 + "]" * 200_000),
        "nested": ('"metadata": {}', '"metadata": ' + "[" * 100 + "]" * 100),
        "NaN": ('"offset_": ', '"offset_": NaN, "x_": '),
        "Infinity": ('"offset_": ', '"offset_": -Infinity, "x_": '),
        "overflow": ('"offset_": ', '"offset_": 1e400, "x_": '),
    }
    for name, (old, new) in cases.items():
        assert old in text
        path = model_path.with_name(f"{name}.skan")
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("manifest.json", text.replace(old, new, 1))
            for member, data in contents.items():
                archive.writestr(member, data)
        refused(path, "nests too deeply|is not a JSON number|overflows")
