"""Detector parameters as flags: the Python defaults, the flags' errors, the demo's settings."""

from __future__ import annotations

import argparse

import pytest

import skanomaly
from skanomaly.cli import DETECTORS, main
from skanomaly.cli._params import demo_params, detector_from_args

from ..conftest import fails_with_one_line
from .conftest import option_help, train_argv


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_train_uses_the_python_defaults(name):
    from skanomaly.cli import build_parser

    args = build_parser().parse_args(["train", "data", "--detector", name, "--output", "m"])
    params = detector_from_args(args).get_params()
    defaults = DETECTORS[name]().get_params()
    differ = {key for key in params if params[key] != defaults[key]}
    # Only the seed (so that runs repeat, as --help says) and the progress bar.
    assert differ == {"random_state", "verbose"}
    assert params["n_epochs"] == "auto"
    assert "default: 0" in option_help("train", "--seed")


def test_demo_help_states_every_setting_it_changes():
    from skanomaly.cli import PARAMETER_FLAGS, build_parser

    parser = build_parser()
    args = parser.parse_args(["demo"])
    params = demo_params(args)
    (subparsers,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    description = " ".join(subparsers.choices["demo"].description.split())
    for name in sorted(DETECTORS):
        defaults = DETECTORS[name]().get_params()
        for key, value in params.items():
            if key == "verbose" or value == defaults[key]:
                continue
            flag = PARAMETER_FLAGS[key]
            assert f"default: {value}" in option_help("demo", flag), (key, value)
            if key != "random_state":
                assert f"{flag} {value}" in description, (key, value)


def test_train_detector_options_reach_the_model(data_dir, tmp_path, capsys):
    path = tmp_path / "a.skan"
    assert main([*train_argv(data_dir, path, detector="anogan"), "--latent-steps", "3",
                 "--learning-rate", "1e-3"]) == 0  # fmt: skip
    params = skanomaly.load(path).get_params()
    assert params["latent_steps"] == 3 and params["learning_rate"] == 1e-3

    path = tmp_path / "g.skan"
    argv = [*train_argv(data_dir, path), "--anomaly-score", "reconstruction", "--epochs", "3"]
    assert main([*argv, "--early-stopping", "--validation-fraction", "0.25",
                 "--n-iter-no-change", "1"]) == 0  # fmt: skip
    detector = skanomaly.load(path)
    assert detector.anomaly_score == "reconstruction"
    assert detector.early_stopping and detector.validation_fraction == 0.25
    assert detector.n_iter_no_change == 1

    path = tmp_path / "e.skan"
    assert (
        main([*train_argv(data_dir, path, detector="egbad"), "--disc-score", "cross_entropy"]) == 0
    )
    assert skanomaly.load(path).disc_score == "cross_entropy"


@pytest.mark.parametrize(
    "detector, extra, message",
    [
        ("ganomaly", ["--latent-steps", "5"], "--latent-steps applies to --detector anogan"),
        ("anogan", ["--anomaly-score", "combined"], "--anomaly-score applies to .*ganomaly"),
        ("ganomaly", ["--epochs", "0"], "--epochs must be at least 1, got 0"),
        ("ganomaly", ["--learning-rate", "-1"], "--learning-rate must be"),
        ("ganomaly", ["--batch-size", "0"], "--batch-size must be at least 2"),
        ("ganomaly", ["--batch-size", "1"], "--batch-size must be at least 2"),
        ("ganomaly", ["--contamination", "0.9"], "--contamination must be in"),
        ("ganomaly", ["--contamination", "2"], "--contamination must be in"),
        ("ganomaly", ["--n-filters", "0"], "--n-filters must be"),
        ("ganomaly", ["--latent-dim", "-3"], "--latent-dim must be"),
        ("ganomaly", ["--validation-fraction", "0.2"], "need --early-stopping"),
        ("ganomaly", ["--early-stopping", "--validation-fraction", "2"], "--validation-fraction"),
        ("ganomaly", ["--device", "nonsense"],
         r"--device: device='nonsense' is not a valid torch device"),
        # Too few images to hold out: reported at fit, still with the flags' names.
        ("ganomaly", ["--early-stopping", "--validation-fraction", "0.01"],
         "--early-stopping with --validation-fraction=0.01 leaves too few"),
    ],
)  # fmt: skip
def test_train_errors_name_the_flag(detector, extra, message, data_dir, tmp_path, capsys):
    argv = [*train_argv(data_dir, tmp_path / "m.skan", detector=detector), *extra]
    out = fails_with_one_line(capsys, argv, message)
    assert not (tmp_path / "m.skan").exists()
    if "--early-stopping" not in extra:  # the others are checked before the work starts
        assert "Training" not in out


def test_the_parameter_table_matches_the_detectors_and_train():
    from skanomaly.cli import build_parser
    from skanomaly.cli._params import PARAMETERS

    for parameter in PARAMETERS:
        # Owners as declared: the detectors that take the parameter (none listed: all).
        takes = [name for name, cls in DETECTORS.items() if parameter.name in cls().get_params()]
        assert takes == list(parameter.owners or DETECTORS), parameter.name
        # Every parameter is a flag of train, under its declared name.
        assert option_help("train", parameter.flag), parameter.flag
    args = build_parser().parse_args(["train", "data", "--detector", "egbad", "--output", "m"])
    assert {p.name for p in PARAMETERS} <= set(vars(args))
