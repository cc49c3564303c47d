"""Several ranks (torchrun + gloo on the CPU): the same training as one process, end to end.

Real torchrun, real processes: two ranks on this machine, or two "nodes" over 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from mnist_pipeline.core.model_files import read_card
from mnist_pipeline.core.tensor_files import save_splits
from mnist_pipeline.train.launch import WAIT_FOR_MASTER_S
from mnist_pipeline.train.monitor import CHECK_EVERY

from conftest import MODEL_NAMES, ROOT, train_here, unused_port, wait_until
from project import create_project, repro, run, set_params
from synthetic import make_splits, write_pickle

pytestmark = pytest.mark.slow
TRAIN = str(ROOT / "stages" / "train.py")


def write_params(path: Path, **train) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"].update({"device": "cpu", "bs": 32, "epochs": 2, **train})
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """641 training images: with bs 32 the last batch has 1 row, so rank 1 gets none of it."""
    folder = tmp_path_factory.mktemp("ddp")
    save_splits(make_splits(641, 200, 200, seed=2), folder / "tensors")
    return folder


def torchrun(*args: str, nproc: int = 2, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           f"--nproc-per-node={nproc}", *args], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"}, **kwargs)


@pytest.fixture(scope="module")
def two_ranks(data):
    """Every variant trained by two ranks (one torchrun, as the stage would train each)."""
    out = data / "two-ranks"
    out.mkdir()
    params = write_params(data / "params-2.yaml", nproc=2)
    result = torchrun(str(ROOT / "tests" / "ddp_variants.py"), str(data / "tensors"), str(out),
                      str(params), cwd=data)
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_two_ranks_train_like_one_process(data, two_ranks, name, tmp_path):
    model, card = train_here(name, data / "tensors", tmp_path, bs=32, epochs=2)
    two = load_file(two_ranks / f"{name}.safetensors")
    for key, value in model.state_dict().items():
        torch.testing.assert_close(two[key], value.contiguous(), atol=1e-5, rtol=0)
    two_card = read_card(two_ranks / f"{name}.safetensors")
    assert two_card["nproc"] == 2 and card["nproc"] == 1
    for a, b in zip(two_card["history"], card["history"], strict=True):
        assert a["valid_loss"] == pytest.approx(b["valid_loss"], abs=1e-4)
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-4)


FAULT = """
import os
if os.environ.get("RANK") == "1":
    import mnist_pipeline.tutorial.fit as training
    real, calls = training.loss_batch, []
    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("injected fault on rank 1")
        return real(*args, **kwargs)
    training.loss_batch = failing
"""


def test_a_failing_rank_fails_the_stage_with_its_message_and_no_model(data, tmp_path):
    # sitecustomize runs in every Python that starts with it on the path: here, each rank.
    (tmp_path / "sitecustomize.py").write_text(FAULT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT / "src")])}
    params = write_params(tmp_path / "params.yaml", nproc=2)
    model = tmp_path / "models" / "cnn.safetensors"
    result = subprocess.run([sys.executable, TRAIN, "cnn", str(data / "tensors"), str(model),
                             "--params", str(params)], capture_output=True, text=True,
                            timeout=600, env=env, cwd=tmp_path)
    assert result.returncode != 0
    assert "injected fault on rank 1" in result.stderr
    assert not model.exists() and not (tmp_path / "models").exists()


def test_a_killed_rank_fails_the_stage_and_leaves_no_model(data, tmp_path):
    pid_file = tmp_path / "rank1.pid"
    (tmp_path / "sitecustomize.py").write_text(
        "import os\n"
        "if os.environ.get('RANK') == '1':\n"
        f"    open({str(pid_file)!r} + '.tmp', 'w').write(str(os.getpid()))\n"
        f"    os.replace({str(pid_file)!r} + '.tmp', {str(pid_file)!r})\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT / "src")])}
    params = write_params(tmp_path / "params.yaml", nproc=2, epochs=50)
    stage = subprocess.Popen([sys.executable, TRAIN, "cnn", str(data / "tensors"),
                              "model.safetensors", "--params", str(params)], cwd=tmp_path,
                             env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(pid_file.exists, 120, "rank 1 started")
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        log = stage.communicate(timeout=300)[1]
    finally:
        stage.kill()
    assert stage.returncode == 1, log
    assert "train: error: rank 1 was killed by SIGKILL" in log
    assert not (tmp_path / "model.safetensors").exists()


DIVERGES_ON_RANK_1 = f"""
import os
if os.environ.get("RANK") == "1":
    import torch
    import mnist_pipeline.tutorial.fit as training
    real, calls = training.loss_batch, []
    def overflowing(*args, **kwargs):
        loss, n = real(*args, **kwargs)
        calls.append(1)
        # A check step: rank 1's slice overflows there, rank 0's does not (yet).
        return (torch.tensor(float("inf")) if len(calls) == {CHECK_EVERY} else loss), n
    training.loss_batch = overflowing
"""


def test_a_loss_that_diverges_on_one_rank_stops_every_rank_with_the_message(data, tmp_path):
    (tmp_path / "sitecustomize.py").write_text(DIVERGES_ON_RANK_1)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT / "src")])}
    params = write_params(tmp_path / "params.yaml", nproc=2, bs=8)  # 81 steps an epoch
    result = subprocess.run([sys.executable, TRAIN, "logistic", str(data / "tensors"),
                             "model.safetensors", "--params", str(params)], capture_output=True,
                            text=True, timeout=600, env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert (f"the loss became inf in epoch 1 at step {CHECK_EVERY}; no model written"
            in result.stderr)
    assert "on another rank" in result.stderr  # rank 0 stopped at the same step
    assert "Connection closed" not in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "model.safetensors").exists()
    assert not (tmp_path / ".checkpoints").exists()


def test_two_nodes_over_loopback_train_like_two_ranks_on_one(data, two_ranks, tmp_path):
    params = write_params(tmp_path / "params.yaml", nproc=1, nnodes=2,
                          master=f"127.0.0.1:{unused_port()}")
    model = tmp_path / "logistic.safetensors"
    nodes = [subprocess.Popen([sys.executable, TRAIN, "logistic", str(data / "tensors"),
                               str(model if rank == 0 else tmp_path / "unused.safetensors"),
                               "--params", str(params), "--node-rank", str(rank)],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
             for rank in (0, 1)]
    outputs = [node.communicate(timeout=600) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs
    assert not (tmp_path / "unused.safetensors").exists()  # only global rank 0 writes
    # Two ranks either way, the same slices and sums: the same weights, bit for bit, and the
    # same history and scores; the card tells one process on each of two nodes.
    one_node = two_ranks / "logistic.safetensors"
    mine, theirs = load_file(model), load_file(one_node)
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[key], theirs[key]) for key in mine)
    card, one_node_card = read_card(model), read_card(one_node)
    assert (card["nproc"], card["nnodes"]) == (1, 2)
    assert (one_node_card["nproc"], one_node_card["nnodes"]) == (2, 1)
    assert (card["history"], card["scores"]) == (one_node_card["history"],
                                                 one_node_card["scores"])


@pytest.mark.parametrize("other", ["data/tensors", "model or its params"])
def test_a_node_with_other_inputs_refuses_and_node_0_stops_in_one_line_too(data, tmp_path,
                                                                           other):
    params = write_params(tmp_path / "params.yaml", nproc=1, nnodes=2,
                          master=f"127.0.0.1:{unused_port()}")
    save_splits(make_splits(641, 200, 200, seed=5), tmp_path / "stale")
    node_1 = ([tmp_path / "stale", "logistic"] if other == "data/tensors"  # stale tensors
              else [data / "tensors", "scratch"])  # the same tensors, another model
    nodes = [subprocess.Popen([sys.executable, TRAIN, model, str(tensors),
                               f"node{rank}.safetensors", "--params", str(params),
                               "--node-rank", str(rank)],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
             for rank, (tensors, model) in enumerate([(data / "tensors", "logistic"), node_1])]
    logs = [node.communicate(timeout=600)[1] for node in nodes]
    assert [node.returncode for node in nodes] == [1, 1], logs
    assert f"train[rank 1]: error: rank 1: this node's {other} differs from node 0's" in logs[1]
    assert ("train: error: rank 0: 1 node(s) run other code, data or model than node 0 and "
            "refused to train; their message says which" in logs[0])
    for log in logs:
        assert "Traceback" not in log and "Connection closed" not in log, log
    assert not list(tmp_path.glob("node*.safetensors"))


def test_a_node_that_finds_nobody_at_train_master_stops_in_one_line(tmp_path):
    master = f"127.0.0.1:{unused_port()}"
    params = write_params(tmp_path / "params.yaml", nproc=1, nnodes=2, master=master)
    started = time.monotonic()
    result = subprocess.run([sys.executable, TRAIN, "logistic", "tensors", "model.safetensors",
                             "--params", str(params), "--node-rank", "1"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=WAIT_FOR_MASTER_S + 120)
    assert time.monotonic() - started < WAIT_FOR_MASTER_S + 60
    assert result.returncode == 1
    assert result.stderr == (f"train: error: nobody answers at train.master {master} after "
                             f"{WAIT_FOR_MASTER_S} s (Connection refused): start node 0 "
                             "(dvc repro) first, and check train.master\n")
    assert not (tmp_path / "model.safetensors").exists()


def test_an_interrupted_two_rank_run_resumes_to_the_same_model(tmp_path):
    tensors = tmp_path / "tensors"
    save_splits(make_splits(6_000, 500, 500, seed=3), tensors)
    # 5 epochs: after the first checkpoint, four are left to outlast the SIGTERM's way through
    # torchrun's agent to the ranks, however fast this machine trains.
    params = write_params(tmp_path / "params.yaml", nproc=2, epochs=5, bs=64)
    command = [sys.executable, TRAIN, "cnn", str(tensors), "out.safetensors",
               "--params", str(params)]

    def train(cwd: Path) -> subprocess.Popen:
        cwd.mkdir(exist_ok=True)
        return subprocess.Popen(command, cwd=cwd, stderr=subprocess.PIPE, text=True)

    straight = train(tmp_path / "straight")
    assert straight.wait(timeout=600) == 0, straight.stderr.read()

    stopped = train(tmp_path / "stopped")
    checkpoint = tmp_path / "stopped" / ".checkpoints" / "cnn.pt"
    wait_until(checkpoint.exists, 300, "the first checkpoint")
    stopped.send_signal(signal.SIGTERM)
    log = stopped.communicate(timeout=60)[1]
    assert stopped.returncode == 128 + signal.SIGTERM, log
    assert " saved in " in log and "run `dvc repro` again to resume" in log
    assert not (tmp_path / "stopped" / "out.safetensors").exists() and checkpoint.exists()

    resumed = train(tmp_path / "stopped")
    log = resumed.communicate(timeout=600)[1]
    assert resumed.returncode == 0, log
    assert "resuming after epoch" in log
    assert not checkpoint.exists()
    assert ((tmp_path / "stopped" / "out.safetensors").read_bytes()
            == (tmp_path / "straight" / "out.safetensors").read_bytes())


def test_dvc_repro_with_two_ranks_and_changing_nproc_reruns_training(tmp_path):
    dataset = write_pickle(make_splits(600, 200, 200, seed=4), tmp_path / "mnist.pkl.gz")
    project = create_project(tmp_path / "project", str(dataset), dataset)
    assert "train@cnn" in repro(project, "evaluate@cnn")
    set_params(project, {"train.nproc": 2})
    status = run(["dvc", "status", "--json"], project).stdout
    changed = {stage for stage in yaml.safe_load(status)}
    assert {f"train@{name}" for name in MODEL_NAMES} <= changed
    assert sorted(repro(project, "evaluate@cnn")) == ["evaluate@cnn", "train@cnn"]
    assert read_card(project / "models" / "cnn.safetensors")["nproc"] == 2
