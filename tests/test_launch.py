"""The train stage's hand-over to torchrun: the command line torchrun itself reads, the checks
made before any work, and torchrun's failures in one line."""

import pytest
from torch.distributed.run import parse_args

from mnist_pipeline.core.params import TrainParams
from mnist_pipeline.train.launch import LaunchError, check_devices, run_ranks, torchrun_args


def train(**changes) -> TrainParams:
    return TrainParams(**{"seed": 0, "device": "cuda", "bs": 64, "epochs": 2, **changes})


def torchrun_reads(train: TrainParams, node_rank: int = 0):
    """What torchrun's own parser makes of the stage's command line."""
    return parse_args([*torchrun_args(train, node_rank), "stages/train.py", "cnn"])


def test_one_node_gets_a_standalone_rendezvous_on_a_free_port():
    args = torchrun_reads(train(nproc=2))
    assert (args.standalone, args.nproc_per_node, args.nnodes) == (True, "2", "1:1")
    assert (args.training_script, args.training_script_args) == ("stages/train.py", ["cnn"])


def test_several_nodes_meet_at_node_0_as_train_master_says():
    args = torchrun_reads(train(nproc=4, nnodes=2, master="node0.example:29400"), 1)
    assert not args.standalone and args.rdzv_backend == "static"
    assert (args.nproc_per_node, args.nnodes, args.node_rank) == ("4", "2", 1)
    assert (args.master_addr, args.master_port) == ("node0.example", 29400)
    assert torchrun_reads(train(nnodes=2, master="[fd00::1]:29400")).master_addr == "fd00::1"


def test_more_ranks_than_gpus_is_refused_before_any_work():
    with pytest.raises(LaunchError, match="train.nproc is 4 but this node has 2 CUDA device"):
        check_devices(train(nproc=4), cuda_devices=2)
    check_devices(train(nproc=2), cuda_devices=2)
    with pytest.raises(LaunchError, match="train.nproc is 2 but this node has 1 CUDA device"):
        check_devices(train(device="auto", nproc=2), cuda_devices=1)


def test_cpu_ranks_are_never_capped_by_the_gpu_count():
    # Refused would raise LaunchError; CPU ranks take no GPU, whatever this node has.
    check_devices(train(device="auto", nproc=8), cuda_devices=0)
    check_devices(train(device="cpu", nproc=8), cuda_devices=2)
    check_devices(train(device="cpu", nproc=8), cuda_devices=0)


def test_one_gpu_per_rank_so_a_numbered_gpu_is_refused_for_several_ranks():
    with pytest.raises(LaunchError, match="each rank takes its own GPU"):
        check_devices(train(device="cuda:1", nproc=2), cuda_devices=4)
    with pytest.raises(LaunchError, match=r"with 2 ranks \(train.nproc 1 x train.nnodes 2\)"):
        check_devices(train(device="cuda:1", nnodes=2), cuda_devices=4)
    with pytest.raises(LaunchError, match="not mps"):
        check_devices(train(device="mps", nproc=2), cuda_devices=0)


@pytest.mark.filterwarnings("ignore:Unable to enable fault handler")  # pytest's captured stderr
def test_nodes_that_do_not_meet_end_in_one_line(monkeypatch, capsys):
    from torch.distributed import DistStoreError

    def waited_in_vain(args):
        raise DistStoreError("Timed out after 600 seconds waiting for clients. 1/2 clients "
                             "joined.\nmore detail")

    monkeypatch.setattr("torch.distributed.run.run", waited_in_vain)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # run_ranks sets it, for this test only
    assert run_ranks(train(device="cpu", nnodes=2, master="127.0.0.1:29400"), ["s.py"]) == 1
    assert capsys.readouterr().err == (
        "train: error: the nodes did not meet at train.master 127.0.0.1:29400: Timed out after "
        "600 seconds waiting for clients. 1/2 clients joined.\n")
