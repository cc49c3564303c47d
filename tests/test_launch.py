"""The train stage's launcher: torchrun's command line, and the checks made before any work."""

import os
import socket
import subprocess
import sys

import pytest

from mnist_pipeline.core.params import TrainParams
from mnist_pipeline.train.launch import (
    WAIT_FOR_NODES_S,
    LaunchError,
    check_devices,
    run_ranks,
    torchrun_args,
    wait_for_master,
)

from conftest import ROOT, unused_port


def train(**changes) -> TrainParams:
    return TrainParams(**{"seed": 0, "device": "cuda", "bs": 64, "epochs": 2, **changes})


def test_one_node_uses_a_standalone_rendezvous_on_a_free_port():
    assert torchrun_args(train(nproc=2), 0, ["stages/train.py", "cnn"]) == [
        "--nproc-per-node=2", "--standalone", "stages/train.py", "cnn"]


def test_several_nodes_meet_at_node_0_with_their_node_rank():
    args = torchrun_args(train(nproc=4, nnodes=2, master="node0.example:29400"), 1, ["s.py"])
    assert args == ["--nproc-per-node=4", "--nnodes=2", "--node-rank=1",
                    "--master-addr=node0.example", "--master-port=29400",
                    f"--rdzv-conf=timeout={WAIT_FOR_NODES_S}", "s.py"]
    ipv6 = torchrun_args(train(nnodes=2, master="[fd00::1]:29400"), 0, [])
    assert "--master-addr=fd00::1" in ipv6


def test_more_ranks_than_gpus_is_refused_before_any_work():
    with pytest.raises(LaunchError, match="train.nproc is 4 but this node has 2 CUDA device"):
        check_devices(train(nproc=4), cuda_devices=2)
    check_devices(train(nproc=2), cuda_devices=2)


def test_auto_without_gpus_runs_the_ranks_on_the_cpu_and_cpu_never_asks_torch(monkeypatch):
    check_devices(train(device="auto", nproc=8), cuda_devices=0)

    def asked():
        raise AssertionError("a CPU run asked torch for its GPUs")

    monkeypatch.setattr("torch.cuda.device_count", asked)
    check_devices(train(device="cpu", nproc=8))
    with pytest.raises(AssertionError, match="asked torch"):
        check_devices(train(device="auto", nproc=8))


def test_one_gpu_per_rank_so_a_numbered_gpu_is_refused_for_several_ranks():
    with pytest.raises(LaunchError, match="each rank takes its own GPU"):
        check_devices(train(device="cuda:1", nproc=2), cuda_devices=4)
    with pytest.raises(LaunchError, match=r"with 2 ranks \(train.nproc 1 x train.nnodes 2\)"):
        check_devices(train(device="cuda:1", nnodes=2), cuda_devices=4)
    with pytest.raises(LaunchError, match="not mps"):
        check_devices(train(device="mps", nproc=2))


def test_a_node_rank_beyond_train_nnodes_fails_in_one_line_and_trains_nothing(tmp_path):
    result = subprocess.run(  # the project's params.yaml: train.nnodes 1
        [sys.executable, str(ROOT / "stages" / "train.py"), "cnn", "tensors", "cnn.safetensors",
         "--params", str(ROOT / "params.yaml"), "--node-rank", "1"], cwd=tmp_path,
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert result.returncode == 1
    assert result.stderr == ("train: error: --node-rank 1: expected 0 (train.nnodes is 1); "
                             "nothing was trained\n")
    assert list(tmp_path.iterdir()) == []


def test_another_node_waits_for_node_0_a_bounded_time_then_fails_in_one_line():
    with pytest.raises(LaunchError, match=r"^nobody answers at train.master 127.0.0.1:\d+ "
                                          r"after 1 s \(Connection refused\): start node 0"):
        wait_for_master(f"127.0.0.1:{unused_port()}", timeout=1)
    with socket.create_server(("127.0.0.1", 0)) as node0:
        wait_for_master(f"127.0.0.1:{node0.getsockname()[1]}", timeout=1)


def test_nodes_that_do_not_meet_end_in_one_line(monkeypatch, capsys):
    from torch.distributed import DistStoreError

    def waited_in_vain(args):
        raise DistStoreError("Timed out after 600 seconds waiting for clients. 1/2 clients "
                             "joined.\nmore detail")

    monkeypatch.setattr("torch.distributed.run.run", waited_in_vain)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # run_ranks sets it, for this test only
    assert run_ranks(train(device="cpu", nnodes=2, master="127.0.0.1:29400"), 0, ["s.py"]) == 1
    assert capsys.readouterr().err == (
        "train: error: the nodes did not meet at train.master 127.0.0.1:29400: Timed out after "
        "600 seconds waiting for clients. 1/2 clients joined.\n")
