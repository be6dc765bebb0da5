"""skanomaly.datasets' data home and loaders: ODDS tables, MNIST and Fashion-MNIST."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.io import savemat

from skanomaly.datasets import get_data_home, load_fashion_mnist, load_mnist, load_odds

from ..conftest import shared_dataset


def test_data_home_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("SKANOMALY_DATA", str(tmp_path / "env"))
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"
    assert get_data_home() == tmp_path / "env"
    monkeypatch.delenv("SKANOMALY_DATA")
    assert get_data_home().name == "skanomaly_data"
    assert "~" not in str(get_data_home())


@pytest.fixture
def odds_home(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "odds").mkdir()
    X = rng.normal(size=(30, 3))
    y = (np.arange(30) < 4).astype(float)[:, None]  # ODDS stores y as an (n, 1) float column
    savemat(tmp_path / "odds" / "toy.mat", {"X": X, "y": y})
    return tmp_path, X, y.ravel()


def test_load_odds_by_name_path_and_env(odds_home, monkeypatch):
    home, X, y = odds_home
    X1, y1 = load_odds("toy", data_home=home)
    np.testing.assert_array_equal(X1, X)
    np.testing.assert_array_equal(y1, y)
    assert X1.dtype == np.float64 and y1.dtype == np.int64 and y1.ndim == 1

    X2, _ = load_odds(home / "odds" / "toy.mat")
    np.testing.assert_array_equal(X2, X)

    monkeypatch.setenv("SKANOMALY_DATA", str(home))
    X3, _ = load_odds("toy")
    np.testing.assert_array_equal(X3, X)


def test_load_odds_missing_file_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"odds.*nothere\.mat"):
        load_odds("nothere", data_home=tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_odds(tmp_path / "nothere.mat")


def test_load_odds_missing_keys(tmp_path):
    savemat(tmp_path / "bad.mat", {"X": np.zeros((3, 2)), "labels": np.zeros(3)})
    with pytest.raises(ValueError, match=r"no y variable.*found \['X', 'labels'\]"):
        load_odds(tmp_path / "bad.mat")


def test_load_odds_not_a_mat_file(tmp_path):
    (tmp_path / "junk.mat").write_text("not a matlab file")
    with pytest.raises(ValueError, match="not a readable MATLAB"):
        load_odds(tmp_path / "junk.mat")


def test_load_odds_length_mismatch(tmp_path):
    savemat(tmp_path / "short.mat", {"X": np.zeros((3, 2)), "y": np.zeros((2, 1))})
    with pytest.raises(ValueError, match="one label per row"):
        load_odds(tmp_path / "short.mat")


@pytest.mark.parametrize(
    "name, shape, n_outliers", [("glass", (214, 9), 9), ("breastw", (683, 9), 239)]
)
def test_load_odds_shared_copy(name, shape, n_outliers):
    root = shared_dataset("odds", f"{name}.mat").parent.parent
    X, y = load_odds(name, data_home=root)
    assert X.shape == shape
    assert set(np.unique(y)) == {0, 1} and y.sum() == n_outliers


@pytest.mark.parametrize(
    "loader, folder", [(load_fashion_mnist, "FashionMNIST"), (load_mnist, "MNIST")]
)
def test_mnist_like_missing_files_say_where_to_put_them(loader, folder, tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        loader(tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path / folder / "raw") in message
    assert "train-images-idx3-ubyte" in message


def test_load_fashion_mnist_shared_copy():
    root = shared_dataset("FashionMNIST", "raw").parent.parent
    X, y = load_fashion_mnist(root, train=False, download=False)
    assert X.shape == (10000, 28, 28) and X.dtype == np.uint8
    assert y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 1000))
