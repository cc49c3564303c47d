"""Several ranks (torchrun + gloo on the CPU): the same training as one process, end to end.

Real torchrun, real processes: two ranks on this machine, or two "nodes" over 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from mnist_pipeline.core.model_files import read_card
from mnist_pipeline.core.tensor_files import save_splits
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


def nodes(tmp_path: Path, node_1: list[str], node_0: list[str] | None = None,
          node_1_params: Path | None = None, **train) -> list[tuple[int, str]]:
    """Two "nodes" on 127.0.0.1 as docs/scaling.md starts them: node 0 the stage (as dvc runs
    it, handing over to torchrun), node 1 torchrun's own command line with the stage's script
    and ``node_1``'s arguments. Their exit status and stderr."""
    master = f"127.0.0.1:{unused_port()}"
    params = write_params(tmp_path / "params.yaml", nproc=1, nnodes=2, master=master, **train)
    host, port = master.rsplit(":", 1)
    commands = [
        [sys.executable, TRAIN, *(node_0 or node_1), "--params", str(params)],
        [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--node-rank=1",
         "--nproc-per-node=1", f"--master-addr={host}", f"--master-port={port}", TRAIN,
         *node_1, "--params", str(node_1_params or params)]]
    # One thread per rank on both nodes, as the stage sets it on node 0: the same bytes.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
               for command in commands]
    return [(node.wait(timeout=600), node.communicate()[1]) for node in started]


def test_two_nodes_over_loopback_train_like_two_ranks_on_one(data, two_ranks, tmp_path):
    model = tmp_path / "logistic.safetensors"
    (status_0, log_0), (status_1, log_1) = nodes(
        tmp_path, ["logistic", str(data / "tensors"), str(tmp_path / "unused.safetensors")],
        ["logistic", str(data / "tensors"), str(model)])
    assert (status_0, status_1) == (0, 0), (log_0, log_1)
    assert not (tmp_path / "unused.safetensors").exists()  # only global rank 0 writes
    # Two ranks either way, the same slices and sums: the same weights, bit for bit, and the
    # same history; the card tells one process on each of two nodes.
    one_node = two_ranks / "logistic.safetensors"
    mine, theirs = load_file(model), load_file(one_node)
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[key], theirs[key]) for key in mine)
    card, one_node_card = read_card(model), read_card(one_node)
    assert (card["nproc"], card["nnodes"]) == (1, 2)
    assert (one_node_card["nproc"], one_node_card["nnodes"]) == (2, 1)
    assert card["history"] == one_node_card["history"]


@pytest.mark.parametrize("other", ["data", "run"])
def test_a_node_with_other_inputs_refuses_and_node_0_stops_in_one_line_too(data, tmp_path,
                                                                           other):
    save_splits(make_splits(641, 200, 200, seed=5), tmp_path / "stale")
    node_1 = ([str(tmp_path / "stale"), "logistic"] if other == "data"  # stale tensors
              else [str(data / "tensors"), "scratch"])  # the same tensors, another model
    (status_0, log_0), (status_1, log_1) = nodes(
        tmp_path, [node_1[1], node_1[0], "node1.safetensors"],
        ["logistic", str(data / "tensors"), "node0.safetensors"])
    assert (status_0, status_1) == (1, 1), (log_0, log_1)
    assert f"train[rank 1]: error: rank 1: this node's {other} differs from node 0's" in log_1
    # Node 0: its rank's line, then the stage's, and nothing else (no traceback, no log lines
    # of torchrun's).
    assert log_0.splitlines() == [
        "train: error: rank 0: rank(s) 1 run another training than node 0 and refused to; "
        "their message says why",
        "train: error: rank 0 failed (exit status 1); its message is above"], log_0
    assert not list(tmp_path.glob("node*.safetensors"))


def test_a_node_started_with_other_params_is_refused_in_one_line(data, tmp_path):
    # Node 1's clone did not pull params.yaml: there, train.nnodes is still 1.
    (tmp_path / "node1").mkdir()
    stale = write_params(tmp_path / "node1" / "params.yaml", nproc=1, nnodes=1)
    (status_0, log_0), (status_1, log_1) = nodes(
        tmp_path, ["logistic", str(data / "tensors"), "m.safetensors"], node_1_params=stale)
    assert (status_0, status_1) == (1, 1), (log_0, log_1)
    assert "train[rank 1]: error: rank 1: this node's run differs from node 0's" in log_1
    assert "Traceback" not in log_0


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
    repro(project)
    set_params(project, {"train.nproc": 2})
    assert repro(project, "train@cnn") == ["train@cnn"]
    # What docs/scaling.md says `dvc status` lists then: evaluate, whose cnn model changed,
    # and the other train stages, whose params did.
    status = yaml.safe_load(run(["dvc", "status", "--json"], project).stdout)
    assert set(status) == {"evaluate"} | {f"train@{name}" for name in MODEL_NAMES
                                           if name != "cnn"}
    # Scoring alone, the other trainings left as they are: --single-item.
    assert repro(project, "--single-item", "evaluate") == ["evaluate"]
    assert read_card(project / "models" / "cnn.safetensors")["nproc"] == 2
