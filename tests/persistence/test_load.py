"""Loading foreign and damaged files: a clear one-line error, and nothing executed."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
import zlib

import joblib
import numpy as np
import pytest
import torch

import skanomaly
from skanomaly.exceptions import ModelFileError

from .conftest import Payload, members_of, refused, tampered, write_model


def test_malicious_payload_really_runs_under_pickle(tmp_path):
    # The control for the tests below: the payload does execute when unpickled.
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(Payload(marker))).close()
    assert marker.exists()


@pytest.mark.parametrize("writer", ["pickle", "joblib", "torch.save"])
def test_load_refuses_pickles_and_runs_nothing(writer, tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.skan"
    if writer == "pickle":
        path.write_bytes(pickle.dumps(Payload(marker)))
        match = "not a skanomaly model file \\(not a zip archive\\)"
    elif writer == "joblib":
        joblib.dump(Payload(marker), path)
        match = "not a skanomaly model file \\(not a zip archive\\)"
    else:  # a zip archive, but a torch pickle inside
        torch.save({"x": Payload(marker)}, path)
        match = "not a skanomaly model file: its zip archive has 6 entries; it may have at most 3"
    with pytest.raises(ModelFileError, match=match):
        skanomaly.load(path)
    assert not marker.exists()


def test_load_refuses_malicious_weights_with_valid_digests(saved_file, tmp_path):
    marker = tmp_path / "ran"
    buffer = io.BytesIO()
    torch.save({"generator_": Payload(marker)}, buffer)
    path = tampered(saved_file, members={"weights.pt": buffer.getvalue()})
    with pytest.raises(ModelFileError, match="unsafe or corrupted.*weights.pt holds more than"):
        skanomaly.load(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "manifest, match",
    [
        ({"format": "something-else"}, "is not a skanomaly manifest"),
        ({"format_version": 99}, "unsupported skanomaly model format version 99"),
        ({"class": "os.system"}, "unknown detector class 'os.system'"),
        ({"class": "IsolationForest"}, "unknown detector class 'IsolationForest'"),
        ({"params": {"contamination": 0.1, "exec": "x"}}, "unknown parameters .*'exec'"),
        ({"params": {"contamination": 5.0}}, "malformed.*'contamination' parameter"),
        ({"params": {"contamination": {"pickle": "x"}}}, "malformed.*unexpected value"),
        ({"fitted": {"__class__": 1}}, "bad attribute name '__class__'"),
        ({"fitted": {"offset_": {"array": ["x"]}}}, "malformed.*unexpected value"),
        ({"networks": ["generator_"]}, "networks \\[.generator_.\\], but"),
        ({"params": []}, "'params' is missing or invalid"),
    ],
)
def test_load_refuses_a_wrong_manifest(saved_file, manifest, match):
    with pytest.raises(ModelFileError, match=match):
        skanomaly.load(tampered(saved_file, manifest=manifest))


def test_load_refuses_damaged_files(saved_file, tmp_path):
    (tmp_path / "random.skan").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelFileError, match="not a zip archive"):
        skanomaly.load(tmp_path / "random.skan")

    changed = tampered(saved_file, members={"weights.pt": b"junk"}, fix_digests=False)
    with pytest.raises(ModelFileError, match="weights.pt does not match its digest"):
        skanomaly.load(changed)

    with zipfile.ZipFile(tmp_path / "no-json.skan", "w") as archive:
        archive.writestr("manifest.json", b"\x80 not json")
    with pytest.raises(ModelFileError, match="unreadable manifest.json"):
        skanomaly.load(tmp_path / "no-json.skan")


def test_every_damage_is_one_valueerror_line(model_path):
    data = model_path.read_bytes()
    rng = np.random.default_rng(0)
    damaged = model_path.with_name("damaged.skan")
    messages = []
    for cut in np.linspace(0, len(data) - 1, 25).astype(int):
        damaged.write_bytes(data[:cut])
        messages.append(refused(damaged, "skanomaly model file"))
    for position in rng.integers(0, len(data), 40):
        flipped = bytearray(data)
        flipped[position] ^= 0xFF
        damaged.write_bytes(bytes(flipped))
        try:
            skanomaly.load(damaged)  # a byte the format ignores (zip padding)
        except ValueError as exc:
            assert "\n" not in str(exc)
            messages.append(str(exc))
    # A damaged .skan is not a pickle: no advice to reach for joblib.load.
    assert not any("joblib" in m for m in messages)


def test_deflate_stream_cut_inside_the_weights(model_path, tmp_path):
    # Ctrl-C during an old in-place save: a zip whose weights stream is cut.
    contents = members_of(model_path)
    manifest = json.loads(contents.pop("manifest.json"))
    path = write_model(tmp_path / "cut.skan", manifest, contents, compress=zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("weights.pt")
    start = info.header_offset + 30 + len(info.filename)
    data[start + 100 : start + info.compress_size] = zlib.compress(b"x")[:1] * (
        info.compress_size - 100
    )
    path.write_bytes(bytes(data))
    refused(path, "skanomaly model file")


def test_folder_and_missing_file(tmp_path):
    refused(tmp_path, "is a folder")
    with pytest.raises(FileNotFoundError):
        skanomaly.load(tmp_path / "absent.skan")
