"""How the detectors are put together: the network registry and the merged
``__init__`` signature of the shared and the detector's own parameters."""

from __future__ import annotations

import inspect
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from torch import nn

import skanomaly
from skanomaly import AnoGANDetector, EGBADDetector, GANomalyDetector
from skanomaly._base import BaseGANDetector

from .conftest import fast

ROWS = np.random.default_rng(0).normal(size=(48, 3))

OWN_PARAMETERS = {
    AnoGANDetector: ["latent_steps", "latent_lr", "disc_weight"],
    EGBADDetector: ["disc_weight", "disc_score", "cycle_weight"],
    GANomalyDetector: ["adv_weight", "con_weight", "enc_weight", "anomaly_score", "score_weight"],
}
NETWORKS = {
    AnoGANDetector: ("generator_", "discriminator_"),
    EGBADDetector: ("encoder_", "generator_", "discriminator_"),
    GANomalyDetector: ("generator_", "discriminator_"),
}


def _shared_parameters():
    parameters = list(inspect.signature(BaseGANDetector.__init__).parameters.values())
    return parameters[1:]  # without self


def test_signature_is_the_shared_then_the_own_parameters(detector_class):
    parameters = list(inspect.signature(detector_class).parameters.values())
    names = [p.name for p in parameters]
    assert names == [p.name for p in _shared_parameters()] + OWN_PARAMETERS[detector_class]
    assert all(p.kind is p.KEYWORD_ONLY for p in parameters)
    assert parameters[: len(_shared_parameters())] == _shared_parameters()
    assert detector_class._get_param_names() == sorted(names)
    # The defaults are those of the signature.
    defaults = {p.name: p.default for p in parameters}
    assert detector_class().get_params() == defaults


def test_unknown_and_positional_arguments_are_refused(detector_class):
    with pytest.raises(TypeError, match="contamnation"):
        detector_class(contamnation=0.1)
    with pytest.raises(TypeError):
        detector_class(0.1)


def test_help_shows_the_full_signature(detector_class):
    text = inspect.signature(detector_class.__init__)
    assert "contamination=0.1" in str(text) and "**params" not in str(text)


def test_a_subclass_with_params_gets_the_merged_signature():
    class Weighted(GANomalyDetector):
        def __init__(self, *, extra=1.0, **params):
            super().__init__(**params)
            self.extra = extra

    names = list(inspect.signature(Weighted).parameters)
    assert names == list(inspect.signature(GANomalyDetector).parameters) + ["extra"]
    detector = clone(Weighted(extra=2.0, anomaly_score="combined", n_epochs=3))
    assert detector.get_params()["extra"] == 2.0
    assert detector.get_params()["anomaly_score"] == "combined"
    assert repr(detector) == "Weighted(anomaly_score='combined', extra=2.0, n_epochs=3)"


def test_registry_lists_exactly_the_fitted_networks(detector_class):
    detector = fast(detector_class)
    assert detector._networks() == {}
    detector.fit(ROWS)
    assert detector._network_names == NETWORKS[detector_class]
    modules = {k for k, v in vars(detector).items() if isinstance(v, nn.Module)}
    assert set(detector._networks()) == modules
    assert all(detector._networks()[k] is getattr(detector, k) for k in modules)
    # A refit registers the same networks once.
    detector.fit(ROWS)
    assert detector._network_names == NETWORKS[detector_class]


def test_a_failed_fit_clears_the_registry(monkeypatch):
    detector = fast(GANomalyDetector).fit(ROWS)
    monkeypatch.setattr(
        GANomalyDetector, "_anomaly_score", lambda self, nets, x: torch.full((len(x),), np.nan)
    )
    with pytest.raises(FloatingPointError):
        detector.fit(ROWS)
    assert detector._networks() == {}
    assert not any(isinstance(v, nn.Module) for v in vars(detector).values())


def test_pickling_and_model_files_carry_the_registered_networks(detector_class, tmp_path):
    detector = fast(detector_class).fit(ROWS)
    restored = pickle.loads(pickle.dumps(detector))
    assert restored._network_names == NETWORKS[detector_class]
    skanomaly.save(detector, tmp_path / "model.skan")
    loaded = skanomaly.load(tmp_path / "model.skan")
    assert loaded._network_names == NETWORKS[detector_class]
    np.testing.assert_array_equal(loaded.score_samples(ROWS), detector.score_samples(ROWS))


def test_training_scores_are_those_of_score_samples(detector_class):
    # One network: the training scores are its scores of the training rows.
    detector = fast(detector_class, n_estimators=1)
    scores = detector.fit(ROWS).decision_scores_
    np.testing.assert_array_equal(scores, -detector.score_samples(ROWS))
    np.testing.assert_array_equal(detector.decision_scores_, scores)
    # An ensemble: out-of-bag scores, by the members that did not train on a row.
    detector = fast(detector_class, n_estimators=3)
    scores = detector.fit(ROWS).decision_scores_
    np.testing.assert_array_equal(detector.decision_scores_, scores)
    assert not np.allclose(scores, -detector.score_samples(ROWS))
    assert not [k for k in vars(detector) if k.startswith("_") and k.endswith("_")]
