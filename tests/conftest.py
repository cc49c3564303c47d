"""Shared fixtures: generated MNIST-format data and a scripted HTTP server on 127.0.0.1."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from mnist_pipeline.synthetic import make_splits, write_pickle  # noqa: E402

from http_server import ScriptedServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# Subprocesses (git, dvc, stage scripts) inherit these: the test interpreter's environment first
# on PATH (so `dvc` and the stages' `python` are this venv's), a fixed identity for commits and
# no usage reports from DVC.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
os.environ.update({
    "DVC_NO_ANALYTICS": "1",
    "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
})


@pytest.fixture(scope="session")
def tiny_splits():
    """A few hundred images per split: enough for format and loop tests."""
    return make_splits(640, 200, 200, seed=1)


@pytest.fixture(scope="session")
def tiny_pickle(tiny_splits, tmp_path_factory) -> Path:
    return write_pickle(tiny_splits, tmp_path_factory.mktemp("raw") / "mnist.pkl.gz")


@pytest.fixture
def http_server():
    server = ScriptedServer().start()
    yield server
    server.stop()
