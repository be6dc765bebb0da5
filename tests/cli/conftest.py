"""Fixtures and helpers of the command's tests: tiny image folders, a model, report readers."""

from __future__ import annotations

import argparse
import csv
import re

import numpy as np
import pytest
from PIL import Image

from skanomaly.datasets import make_synthetic_defects, write_image_folder, write_mvtec_folder

from ..conftest import TINY_CLI, train_with_cli


def blob_images(rng, n, bright):
    """8x8 grey images: a dark background with a bright square (normal) or noise."""
    images = rng.integers(0, 40, size=(n, 8, 8)).astype(np.uint8)
    if bright:
        images[:, 2:6, 2:6] = 220
    return images


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    rng = np.random.default_rng(0)
    X_test = np.r_[blob_images(rng, 6, True), blob_images(rng, 6, False)]
    y_test = np.r_[np.zeros(6, int), np.ones(6, int)]
    return write_image_folder(
        tmp_path_factory.mktemp("cli") / "data", blob_images(rng, 24, True), X_test, y_test
    )


@pytest.fixture(scope="module")
def mvtec_dir(tmp_path_factory):
    """8x8 blob images in the MVTec layout: 6 good and 8 synthetic defects with masks."""
    rng = np.random.default_rng(1)
    normal = blob_images(rng, 38, True)
    defects = make_synthetic_defects(normal[30:], random_state=0)
    X_test = np.r_[normal[24:30], defects.images]
    types = np.r_[["good"] * 6, defects.kinds]
    masks = np.r_[np.zeros((6, 8, 8), bool), defects.masks]
    root = tmp_path_factory.mktemp("mvtec") / "part"
    return write_mvtec_folder(root, normal[:24], X_test, types, masks)


@pytest.fixture(scope="module")
def mvtec_model(mvtec_dir):
    return train_with_cli(mvtec_dir)


def png_folder(folder, size, n=2):
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, size, dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def scores_csv(report):
    with open(report / "scores.csv") as handle:
        return list(csv.DictReader(handle))


def read_flagged(report):
    rows = scores_csv(report)
    return np.array([float(r["anomaly_score"]) for r in rows]), np.array(
        [int(r["predicted_anomaly"]) for r in rows]
    )


def train_argv(data_dir, path, *extra, detector="ganomaly"):
    return [
        "train", str(data_dir), "--detector", detector, "--output", str(path), *TINY_CLI, *extra
    ]  # fmt: skip


def option_strings(command=None):
    """The option strings of the command line, or of one subcommand."""
    from skanomaly.cli import build_parser

    parser = build_parser()
    if command is not None:
        (subparsers,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = subparsers.choices[command]
    return set(parser._option_string_actions)


FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def option_help(command, flag):
    """The help text of one option of a subcommand, on one line."""
    from skanomaly.cli import build_parser

    parser = build_parser()
    (subparsers,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    action = subparsers.choices[command]._option_string_actions[flag]
    return " ".join((action.help or "").split())
