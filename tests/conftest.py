"""Shared fixtures: generated MNIST-format data and a scripted HTTP server on 127.0.0.1."""

from __future__ import annotations

import os
import resource
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

# The tests' helpers, tools/ (make repro's repair, run as a script, no part of the package) and
# stages/ (startup, what the stage scripts set in their own process).
sys.path[:0] = [str(Path(__file__).parent), *(str(Path(__file__).resolve().parents[1] / folder)
                                             for folder in ("tools", "stages"))]

from http_server import ScriptedServer  # noqa: E402
from synthetic import make_splits, write_pickle  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL_NAMES = tuple(yaml.safe_load((ROOT / "params.yaml").read_text())["models"])

# Subprocesses (git, dvc, stage scripts) inherit these: the test interpreter's environment first
# on PATH (so `dvc` and the stages' `python` are this venv's), a fixed identity for commits and
# no usage reports from DVC.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
os.environ.update({
    "DVC_NO_ANALYTICS": "1",
    "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
})


def requires_gpus(count: int = 1) -> list:
    """Marks for a test that needs ``count`` CUDA GPUs (as lightning-hydra-template's
    ``RunIf(min_gpus=...)``): ``gpu``, and a skip where there are fewer."""
    import torch

    found = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return [pytest.mark.gpu, pytest.mark.skipif(found < count, reason=f"needs {count} CUDA "
                                                f"GPU(s); this machine has {found}")]


def wait_until(ready: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``ready`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout:g} s")
        time.sleep(0.05)


def unused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (free when asked)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def limit_file_size(limit: int) -> Callable[[], None]:
    """A ``preexec_fn``: writes past ``limit`` bytes fail with EFBIG, as on a full disk."""
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


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


def train_here(name: str, tensors: Path, out: Path, live=None, **train):
    """Model ``name`` trained in this process by the train stage's own function, on the CPU,
    with the project's params changed by ``train``, in ``out`` (its checkpoints too):
    ``(model, card)`` of its model file."""
    from mnist_pipeline.core.params import load_params
    from mnist_pipeline.evaluate.scoring import load_model
    from mnist_pipeline.train.training import train_model

    params = load_params(ROOT / "params.yaml")
    params = params.model_copy(update={"train": params.train.model_copy(
        update={"device": "cpu", **train})})
    path, before = out / f"{name}.safetensors", os.getcwd()
    out.mkdir(parents=True, exist_ok=True)
    os.chdir(out)
    try:
        train_model(name, params, str(tensors), str(path), live)
    finally:
        os.chdir(before)
    return load_model(name, path)


@pytest.fixture
def umask_027(monkeypatch):
    """The process umask is 0o027 for the test, and any call of ``os.umask`` fails it: reading
    the umask means setting it, for every thread of the process at once."""
    set_umask = os.umask
    old = set_umask(0o027)

    def refuse(mask):
        raise AssertionError(f"os.umask({mask:#o}) called while other threads may create files")

    monkeypatch.setattr(os, "umask", refuse)
    yield 0o027
    set_umask(old)
