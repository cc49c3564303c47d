"""The train stage on a CUDA GPU, skipped without one (``pytest -m gpu`` on a GPU machine;
benchmarks/gpu_check.sh runs them): every model end to end, a stop and a resume, a diverging
learning rate, a GPU that is not there, more ranks than GPUs, and what ``train.deterministic``
promises: the same bytes from two runs of the same params."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mnist_pipeline.core.model_files import read_card
from mnist_pipeline.core.tensor_files import save_splits

from conftest import MODEL_NAMES, ROOT, requires_gpus, wait_until
from synthetic import make_splits

pytestmark = requires_gpus(1)
TRAIN = str(ROOT / "stages" / "train.py")


@pytest.fixture(scope="module")
def tensors(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("gpu") / "tensors"
    save_splits(make_splits(3_000, 500, 500, seed=9), folder)
    return folder


def stage(cwd: Path, name: str, tensors: Path, lr: float | None = None,
          **train) -> subprocess.Popen:
    """The train stage of model ``name``, as DVC starts it, with ``train.*`` (and its lr)
    changed."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"].update({"device": "cuda", "epochs": 2, **train})
    if lr is not None:
        params["models"][name]["lr"] = lr
    cwd.mkdir(parents=True, exist_ok=True)
    (cwd / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.Popen([sys.executable, TRAIN, name, str(tensors), "model.safetensors"],
                            cwd=cwd, stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen) -> tuple[int, str]:
    stderr = process.communicate(timeout=600)[1]
    return process.returncode, stderr


def weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(path)


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(bool((a[key] == b[key]).all()) for key in a)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_trains_on_the_gpu_and_is_scored_on_the_cpu(tensors, tmp_path, name):
    from mnist_pipeline.evaluate.scoring import evaluate_model, load_splits

    status, log = finished(stage(tmp_path, name, tensors))
    assert status == 0, log
    card = read_card(tmp_path / "model.safetensors", name)
    assert card["device"].startswith("cuda:0 (") and len(card["history"]) == 2
    assert all(math.isfinite(row["train_loss"]) for row in card["history"])
    scores = evaluate_model(name, tmp_path / "model.safetensors", load_splits(tensors)).scores
    # The same weights on the CPU: the last validation within the kernels' rounding.
    assert scores["valid"]["loss"] == pytest.approx(card["history"][-1]["valid_loss"], abs=1e-3)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_deterministic_runs_of_the_same_params_give_the_same_bytes(tensors, tmp_path, name):
    for run in ("a", "b"):
        status, log = finished(stage(tmp_path / run, name, tensors, deterministic=True))
        assert status == 0, log
    assert same(weights(tmp_path / "a" / "model.safetensors"),
                weights(tmp_path / "b" / "model.safetensors"))


def test_a_stop_after_an_epoch_resumes_to_the_bytes_of_a_run_never_stopped(tensors, tmp_path):
    # On the GPU the same bytes need the deterministic kernels: train.deterministic.
    status, log = finished(stage(tmp_path / "straight", "cnn", tensors, epochs=4,
                                 deterministic=True))
    assert status == 0, log
    stopped = stage(tmp_path / "stopped", "cnn", tensors, epochs=4, deterministic=True)
    checkpoint = tmp_path / "stopped" / ".checkpoints" / "cnn.pt"
    wait_until(checkpoint.exists, 300, "the first checkpoint")
    stopped.send_signal(signal.SIGTERM)
    status, log = finished(stopped)
    assert status == 128 + signal.SIGTERM and " saved in " in log, log
    resumed = stage(tmp_path / "stopped", "cnn", tensors, epochs=4, deterministic=True)
    status, log = finished(resumed)
    assert status == 0 and "resuming after epoch" in log, log
    assert same(weights(tmp_path / "straight" / "model.safetensors"),
                weights(tmp_path / "stopped" / "model.safetensors"))
    assert (read_card(tmp_path / "straight" / "model.safetensors")["history"]
            == read_card(tmp_path / "stopped" / "model.safetensors")["history"])


def test_a_diverging_learning_rate_stops_in_one_line(tensors, tmp_path):
    status, log = finished(stage(tmp_path, "scratch", tensors, lr=1e6))
    assert status == 1 and "Traceback" not in log, log
    assert log.startswith("train: error: the loss became") and "Lower models.scratch.lr" in log
    assert not (tmp_path / "model.safetensors").exists()


def test_a_gpu_that_is_not_there_is_one_line_naming_it(tensors, tmp_path):
    import torch

    count = torch.cuda.device_count()
    status, log = finished(stage(tmp_path, "cnn", tensors, device=f"cuda:{count}"))
    assert status == 1
    assert log == (f"train: error: train.device is 'cuda:{count}': cuda:{count} is asked for "
                   f"but only {count} CUDA device(s) are present\n")


def test_more_ranks_than_gpus_is_one_line_before_any_work(tensors, tmp_path):
    import torch

    count = torch.cuda.device_count()
    status, log = finished(stage(tmp_path, "cnn", tensors, nproc=count + 1,
                                 bs=32 * (count + 1)))
    assert status == 1
    assert log == (f"train: error: train.nproc is {count + 1} but this node has {count} CUDA "
                   "device(s): one GPU per rank\n")
