"""What a model file may describe: sizes, values, tensors and a scoring check.

Each tampered size, value or tensor is refused in one line before anything
it describes is allocated; a loaded model must score a fixed number of
rows finitely.
"""

from __future__ import annotations

import copy
import io
import json

import numpy as np
import pytest
import torch

import skanomaly
from skanomaly import AnoGANDetector, GANomalyDetector
from skanomaly.exceptions import ModelFileError

from ..conftest import fast, rewrite_model_file
from .conftest import (
    MIB,
    assert_refused_cheaply,
    linux_only,
    load_in_child,
    members_of,
    refused,
    tampered,
    with_start_codes,
)


# ----------------------------------------------------------------------
# Sizes and parameters: range-checked before anything is built.
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "change, match",
    [
        ({"fitted": {"latent_dim_": 10**9}}, "latent_dim_ = 1000000000 is outside \\[1, 8192\\]"),
        ({"fitted": {"n_features_in_": 2**40}}, "n_features_in_ = .* is outside"),
        ({"fitted": {"hidden_dims_": {"tuple": [2**30, 8]}}}, "hidden_dims_ .* out of range"),
        ({"fitted": {"n_features_in_": True}}, "n_features_in_ = True is outside"),
        ({"fitted": {"offset_": {"float": "nan"}}}, "offset_ is nan"),
        ({"fitted": {"offset_": "0.5"}}, "offset_ is not a number"),
        (
            {"fitted": {"hidden_dims_": {"tuple": [8000, 8000, 8000, 8000]}}},
            "limit of 268,435,456",
        ),
        ({"params": {"batch_size": 10**9}}, "batch_size = 1000000000 exceeds the limit"),
        ({"params": {"learning_rate": {"float": "inf"}}}, "learning_rate"),
    ],
)
def test_tampered_tabular_sizes_are_refused(model_path, change, match):
    refused(tampered(model_path, **change), match)


@pytest.fixture
def image_anogan(fitted_image):
    return fitted_image[AnoGANDetector]


@pytest.mark.parametrize(
    "change, match",
    [
        ({"params": {"latent_steps": 10**12}}, "latent_steps = 1000000000000 exceeds the limit"),
        # Sized before building: small enough to build here, then the weights do not fit.
        ({"params": {"n_filters": 3000}}, "networks would hold|weights generator_.* have shape"),
        (
            {"fitted": {"image_shape_": {"tuple": [1, 2048, 2048]}, "n_features_in_": 2048**2}},
            "is not an array of 4194304 values|networks would hold",
        ),
        ({"fitted": {"image_shape_": {"tuple": [1, 8, 8192]}}}, "8x8192 pixels exceed the limit"),
        ({"fitted": {"image_shape_": {"tuple": [1, 8, 16]}}}, "does not match n_features_in_"),
    ],
)
def test_tampered_image_sizes_are_refused(image_anogan, tmp_path, change, match):
    path = tmp_path / "anogan.skan"
    skanomaly.save(image_anogan, path)
    refused(tampered(path, **change), match)


def test_n_filters_beyond_the_network_limit_is_refused_before_building(tmp_path):
    X = np.random.default_rng(0).random((8, 1, 32, 32))
    path = tmp_path / "m.skan"
    skanomaly.save(fast(GANomalyDetector, n_filters=4).fit(X), path)
    message = refused(tampered(path, params={"n_filters": 3000}), "networks would hold")
    assert "268,435,456" in message


def test_nan_weights_and_scaling_are_refused(model_path, tabular_model):
    detector, X = tabular_model
    broken = copy.deepcopy(detector)
    next(iter(broken.generator_.parameters())).data[0] = float("nan")
    skanomaly.save(broken, model_path.with_name("nan.skan"))
    refused(model_path.with_name("nan.skan"), "hold NaN or infinite values")

    for attribute in ("scale_", "shift_"):
        broken = copy.deepcopy(detector)
        getattr(broken, attribute)[1] = np.nan
        skanomaly.save(broken, model_path.with_name("s.skan"))
        refused(model_path.with_name("s.skan"), f"{attribute} (holds NaN|has values)")

    broken = copy.deepcopy(detector)
    broken.offset_ = float("nan")
    skanomaly.save(broken, model_path.with_name("o.skan"))
    refused(model_path.with_name("o.skan"), "offset_ is nan")


def test_tampered_bounds_are_refused(model_path):
    contents = members_of(model_path)
    manifest = json.loads(contents["manifest.json"])
    with np.load(io.BytesIO(contents["arrays.npz"])) as npz:
        arrays = {k: npz[k] for k in npz.files}
    key = manifest["fitted"]["input_bounds_"]["array"]
    arrays[key] = arrays[key][::-1].copy()  # lower above upper
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    refused(
        tampered(model_path, members={"arrays.npz": buffer.getvalue()}), "input_bounds_ is not"
    )


# ----------------------------------------------------------------------
# Fitted values: finite, in range, consistent.
# ----------------------------------------------------------------------
def with_array(path, new_path, attribute, value):
    """The model file with fitted array ``attribute`` replaced by ``value`` (digests fixed)."""
    contents = members_of(path)
    key = json.loads(contents["manifest.json"])["fitted"][attribute]["array"]
    with np.load(io.BytesIO(contents["arrays.npz"])) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays[key] = np.asarray(value)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return rewrite_model_file(path, new_path, members={"arrays.npz": buffer.getvalue()})


@pytest.mark.parametrize(
    "change, match",
    [
        ({"offset_": {"float": "nan"}}, "offset_ is nan"),
        ({"offset_": {"float": "inf"}}, "offset_ is inf"),
        ({"offset_": {"float": "-inf"}}, "offset_ is -inf"),
        ({"offset_": []}, "offset_ is not a number"),
        ({"offset_": None}, "offset_ is not a number"),
    ],
)
def test_tampered_thresholds_are_refused(change, match, tabular_file, tmp_path):
    with pytest.raises(ModelFileError, match=match) as info:
        skanomaly.load(rewrite_model_file(tabular_file, tmp_path / "t.skan", fitted=change))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "value, match",
    [
        ([], "decision_scores_ is not a non-empty array"),
        ([[0.5, 1.0]], "decision_scores_ is not a non-empty array"),
        ([0.5, np.nan], "decision_scores_ holds NaN or infinite values"),
        ([0.5, -np.inf], "decision_scores_ holds NaN or infinite values"),
    ],
)
def test_tampered_training_scores_of_the_detector_are_refused(
    value, match, tabular_file, tmp_path
):
    with pytest.raises(ModelFileError, match=match):
        skanomaly.load(with_array(tabular_file, tmp_path / "t.skan", "decision_scores_", value))


@pytest.mark.parametrize(
    "change, match",
    [
        ({"n_estimators_": 0}, "n_estimators_ = 0 is not a number of networks"),
        ({"n_estimators_": 65}, "n_estimators_ = 65 is not a number of networks"),
        ({"n_estimators_": 2.5}, "n_estimators_ = 2.5 is not a number of networks"),
        ({"n_estimators_": 3}, r"member_scaling_ is not the \(2, 3\)"),
        ({"trim_fraction_": 0.9}, "trim_fraction_ = 0.9 is not a fraction"),
        ({"anomaly_score_": "bogus"}, "anomaly_score_ = 'bogus' is not a GANomaly score"),
    ],
)
def test_tampered_ensembles_are_refused(change, match, tabular_file, tmp_path):
    with pytest.raises(ModelFileError, match=match) as info:
        skanomaly.load(rewrite_model_file(tabular_file, tmp_path / "t.skan", fitted=change))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("value", [[[0.0] * 5, [1.0] * 4 + [0.0]], [[0.0] * 5]])
def test_tampered_member_scaling_is_refused(value, tabular_file, tmp_path):
    with pytest.raises(ModelFileError, match="member_scaling_ is not the"):
        skanomaly.load(with_array(tabular_file, tmp_path / "t.skan", "member_scaling_", value))


def test_files_from_before_ensembles_load_as_one_plain_network(blobs, tmp_path):
    # What 0.2 saved: no ensemble or robust-training parameters or attributes.
    detector = fast(
        GANomalyDetector, n_estimators=1, robust_training=False, anomaly_score="latent"
    ).fit(blobs[0])
    path = tmp_path / "new.skan"
    skanomaly.save(detector, path)
    manifest = json.loads(members_of(path)["manifest.json"])
    fitted = {
        k: v
        for k, v in manifest["fitted"].items()
        if k not in ("n_estimators_", "trim_fraction_", "anomaly_score_", "decision_scores_")
    }
    params = {
        k: v for k, v in manifest["params"].items() if k not in ("n_estimators", "robust_training")
    }
    old = rewrite_model_file(
        path, tmp_path / "old.skan", manifest={"fitted": fitted, "params": params}
    )
    loaded = skanomaly.load(old)
    assert (loaded.n_estimators, loaded.robust_training) == (1, False)
    assert (loaded.n_estimators_, loaded.trim_fraction_, loaded.anomaly_score_) == (
        1,
        0.0,
        "latent",
    )
    np.testing.assert_array_equal(loaded.score_samples(blobs[1]), detector.score_samples(blobs[1]))


# ----------------------------------------------------------------------
# Tensors: shapes, strides and storage checked before any value is read.
# ----------------------------------------------------------------------
def with_weights(path, new_path, change):
    """The model file ``path`` with ``change(state)`` applied to its weights (digests fixed)."""
    state = torch.load(io.BytesIO(members_of(path)["weights.pt"]), weights_only=True)
    change(state)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return rewrite_model_file(path, new_path, members={"weights.pt": buffer.getvalue()})


def first_weight(state):
    """Name and tensor of the generator's first weight (a matrix, or a stack of them)."""
    key = next(k for k, v in state["generator_"].items() if v.dim() >= 2)
    return key, state["generator_"][key]


@linux_only
def test_a_huge_zero_stride_tensor_is_refused_before_it_is_read(tabular_file, tmp_path):
    # An expand()-ed tensor: 2**34 values over one stored number; any
    # operation on it (a finiteness check) would allocate gigabytes.
    def expand(state):
        key, _ = first_weight(state)
        state["generator_"][key] = torch.zeros(1).expand(2**17, 2**17)

    path = with_weights(tabular_file, tmp_path / "expanded.skan", expand)
    assert path.stat().st_size < MIB
    (result,) = load_in_child(path)
    assert_refused_cheaply(result, r"weights generator_\..* have shape \(131072, 131072\), not")


@pytest.mark.parametrize(
    "what, make, match",
    [
        ("zero strides", lambda t: torch.zeros(1).expand(*t.shape), "not stored densely"),
        (
            "strides that skip",
            lambda t: torch.zeros(*t.shape[:-1], 2 * t.shape[-1])[..., ::2],
            "densely",
        ),
        (
            "a window on more storage",
            lambda t: torch.zeros(t.numel() + 4096)[: t.numel()].view(t.shape),
            "not stored densely",
        ),  # fmt: skip
        ("an offset", lambda t: torch.zeros(t.numel() + 1)[1:].view(t.shape), "densely"),
        ("float64", lambda t: t.double(), "are torch.float64, not torch.float32"),
        ("int32", lambda t: t.int(), "are torch.int32, not torch.float32"),
        ("one value short", lambda t: t.flatten()[1:], "have shape"),
    ],
)
def test_tensors_must_be_what_the_networks_hold(what, make, match, tabular_file, tmp_path):
    def change(state):
        key, tensor = first_weight(state)
        state["generator_"][key] = make(tensor)

    with pytest.raises(ModelFileError, match=match) as info:
        skanomaly.load(with_weights(tabular_file, tmp_path / "m.skan", change))
    assert "\n" not in str(info.value), what


def test_missing_extra_and_permuted_tensors(tabular_file, tmp_path):
    def drop(state):
        state["generator_"].pop(first_weight(state)[0])

    def add(state):
        state["generator_"]["extra.weight"] = torch.zeros(3)

    for change in (drop, add):
        with pytest.raises(ModelFileError, match="is not the state_dict of the networks"):
            skanomaly.load(with_weights(tabular_file, tmp_path / "m.skan", change))

    # Channels-last weights (dense, in another axis order) are plain weights.
    def channels_last(state):
        for tensors in state.values():
            for key, tensor in tensors.items():
                if tensor.dim() == 4:
                    tensors[key] = tensor.contiguous(memory_format=torch.channels_last)

    image = tmp_path / "image.skan"
    X = np.random.default_rng(0).random((16, 1, 8, 8))
    detector = fast(GANomalyDetector, n_filters=4).fit(X)
    skanomaly.save(detector, image)
    restored = skanomaly.load(with_weights(image, tmp_path / "cl.skan", channels_last))
    np.testing.assert_allclose(restored.score_samples(X), detector.score_samples(X), rtol=1e-6)


# ----------------------------------------------------------------------
# The scoring check: a fixed number of rows, whatever the file asks for.
# ----------------------------------------------------------------------
def test_model_that_cannot_score_is_refused(tabular_model, tmp_path):
    # Finite weights, broken statistics: a negative batch-norm variance.
    detector, X = tabular_model
    broken = copy.deepcopy(detector)
    norms = [m for m in broken.generator_.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert norms
    norms[0].running_var.fill_(-1.0)
    assert not np.all(np.isfinite(broken.score_samples(X)))
    skanomaly.save(broken, tmp_path / "m.skan")
    refused(tmp_path / "m.skan", "gives non-finite scores")


def test_load_scores_a_fixed_number_of_rows(fitted_image, tmp_path):
    path = tmp_path / "anogan.skan"
    skanomaly.save(fitted_image[AnoGANDetector], path)
    crafted = with_start_codes(path, tmp_path / "codes.skan", 1024, latent_steps=10_000)
    rows = []

    def record(module, inputs):
        if inputs and isinstance(inputs[0], torch.Tensor):
            rows.append(len(inputs[0]))

    handle = torch.nn.modules.module.register_module_forward_pre_hook(record)
    try:
        restored = skanomaly.load(crafted)
    finally:
        handle.remove()
    assert len(restored.latent_candidates_) == 1024 and restored.latent_steps == 10_000
    # Four probe rows, one at a time; one start code; five search steps.
    assert max(rows) == 1
    assert len(rows) < 4 * 2 * (2 + 5) * 40  # calls of every layer of both networks


@pytest.mark.parametrize("n_codes", [0, 1025])
def test_tampered_anogan_start_codes_are_refused(n_codes, fitted_image, tmp_path):
    # AnoGAN checks its own fitted attributes (the detector's _check_loaded).
    path = tmp_path / "anogan.skan"
    skanomaly.save(fitted_image[AnoGANDetector], path)
    crafted = with_start_codes(path, tmp_path / "codes.skan", n_codes)
    with pytest.raises(ModelFileError, match=r"latent_candidates_ is not \(1024 at most") as info:
        skanomaly.load(crafted)
    assert "\n" not in str(info.value)
