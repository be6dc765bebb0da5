"""Saving: only what ``load`` can read back, and atomic, whatever happens during the write.

A save never leaves a partial file where the model was: kills, full disks,
races and failing writes leave the previous model whole.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

import skanomaly
from skanomaly import GANomalyDetector

from ..conftest import fast
from .conftest import child_env


def test_save_rejects_what_it_cannot_store_safely(detector_class, tmp_path):
    with pytest.raises(TypeError, match="stores skanomaly detectors.*IsolationForest"):
        skanomaly.save(IsolationForest(), tmp_path / "model.skan")
    with pytest.raises(TypeError, match="parameter 'hidden_dims' of type object"):
        skanomaly.save(fast(detector_class, hidden_dims=object()), tmp_path / "model.skan")


def test_save_refuses_metadata_that_load_would_refuse(tabular_model, tmp_path):
    deep: list = []
    for _ in range(40):
        deep = [deep]
    with pytest.raises(TypeError, match="metadata nests more than 28 levels"):
        skanomaly.save(tabular_model[0], tmp_path / "m.skan", metadata={"x": deep})
    with pytest.raises(TypeError, match="plain JSON"):
        skanomaly.save(tabular_model[0], tmp_path / "m.skan", metadata={"x": float("nan")})
    with pytest.raises(ValueError, match="manifest would take .* store less metadata"):
        skanomaly.save(tabular_model[0], tmp_path / "m.skan", metadata={"x": [0] * 2**20})
    with pytest.raises(ValueError, match="manifest would take .* store less metadata"):
        skanomaly.save(tabular_model[0], tmp_path / "m.skan", metadata={"x": "x" * 2**24})
    assert not any(tmp_path.iterdir())


_SAVE_LOOP = textwrap.dedent(
    """
    import sys, numpy as np, skanomaly
    path = sys.argv[1]
    X = np.random.default_rng(int(sys.argv[2])).random((8, 1, 64, 64))
    detector = skanomaly.GANomalyDetector(
        n_epochs=1, batch_size=4, n_filters=48, random_state=0).fit(X)
    skanomaly.save(detector, path)
    print("saved", flush=True)
    for _ in range(int(sys.argv[3])):
        skanomaly.save(detector, path)
    print("done", flush=True)
    """
)


def _start_saver(path, seed, repeats):
    return subprocess.Popen(
        [sys.executable, "-c", _SAVE_LOOP, str(path), str(seed), str(repeats)],
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
    )


def test_kill_9_during_save_keeps_the_previous_model(tmp_path):
    path = tmp_path / "model.skan"
    for attempt, delay in enumerate((0.05, 0.2, 0.45)):
        process = _start_saver(path, attempt, 10_000)
        assert process.stdout.readline().strip() == "saved"
        time.sleep(delay)  # inside the save loop, at some point of a write
        process.send_signal(signal.SIGKILL)
        process.wait()
        restored = skanomaly.load(path)  # the last complete save, whole
        assert restored.image_shape_ == (1, 64, 64)
    # Killed saves leave their temporary files, never a partial model file.
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == ["model.skan"]


def test_concurrent_saves_to_one_path_leave_a_valid_model(tmp_path):
    path = tmp_path / "model.skan"
    processes = [_start_saver(path, seed, 15) for seed in range(3)]
    for process in processes:
        out, _ = process.communicate(timeout=600)
        assert process.returncode == 0 and out.split() == ["saved", "done"]
    restored = skanomaly.load(path)
    assert np.isfinite(restored.offset_)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skan"]


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 1 MiB tmpfs, where the machine lets us mount one (root on Linux)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_full_disk_keeps_the_previous_model(small_tmpfs, tabular_model):
    path = small_tmpfs / "model.skan"
    detector, X = tabular_model
    skanomaly.save(detector, path)
    before = path.read_bytes()
    big = fast(GANomalyDetector, n_filters=64).fit(np.random.default_rng(0).random((8, 1, 64, 64)))
    with pytest.raises(OSError) as info:
        skanomaly.save(big, path)
    assert info.value.errno == errno.ENOSPC
    assert path.read_bytes() == before
    assert [p.name for p in small_tmpfs.iterdir()] == ["model.skan"]
    np.testing.assert_array_equal(skanomaly.load(path).score_samples(X), detector.score_samples(X))


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left"), KeyboardInterrupt])
def test_failed_write_keeps_the_previous_model(error, model_path, tabular_model, monkeypatch):
    # The same as a full disk or Ctrl-C in the middle of writing the weights.
    before = model_path.read_bytes()

    def failing_write(self, name, data, *args, **kwargs):
        if name == "weights.pt":
            raise error
        return original(self, name, data, *args, **kwargs)

    original = zipfile.ZipFile.writestr
    monkeypatch.setattr(zipfile.ZipFile, "writestr", failing_write)
    with pytest.raises(type(error) if isinstance(error, OSError) else error):
        skanomaly.save(tabular_model[0], model_path)
    monkeypatch.undo()
    assert model_path.read_bytes() == before
    assert [p.name for p in model_path.parent.iterdir()] == ["model.skan"]


def test_saved_file_has_the_usual_permissions(model_path):
    umask = os.umask(0o022)
    os.umask(umask)
    assert model_path.stat().st_mode & 0o777 == 0o666 & ~umask
