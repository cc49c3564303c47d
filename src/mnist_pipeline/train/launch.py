"""Start the train stage's ranks with torchrun when ``train.nproc`` or ``train.nnodes`` > 1: the
stage's process runs torchrun's agent in-process, which starts the same command once per rank,
stops them all when one fails and hands signals on. One node: ``--standalone`` (a free port);
several: a static rendezvous at ``train.master``, node 0 being DVC's workspace.
"""

import os
import signal
import sys

from mnist_pipeline.core.cli import frozen_imports
from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.core.params import TrainParams


class LaunchError(PipelineError, RuntimeError):
    """The ranks asked for cannot run here."""


def check_devices(train: TrainParams, cuda_devices: int | None = None) -> None:
    """Refuse, before any work, ranks this node cannot run: one GPU per rank. Only CUDA
    settings ask torch for ``cuda_devices``, so a CPU run never imports it here."""
    if train.device == "cpu" or train.device == "mps":
        if train.device == "mps" and train.nproc > 1:
            raise LaunchError("train.nproc > 1 needs CPU (gloo) or CUDA (nccl) ranks, not mps")
        return
    if train.device.startswith("cuda:") and train.nproc > 1:
        raise LaunchError(f"train.device is {train.device!r} with train.nproc {train.nproc}: "
                          "each rank takes its own GPU (cuda:<local rank>); use 'cuda'")
    if cuda_devices is None:
        import torch

        cuda_devices = torch.cuda.device_count()
    if train.device == "auto" and cuda_devices == 0:
        return  # the ranks run on the CPU
    if train.nproc > cuda_devices:
        raise LaunchError(f"train.nproc is {train.nproc} but this node has {cuda_devices} "
                          "CUDA device(s): one GPU per rank")


def under_torchrun() -> bool:  # torchrun sets these in each rank
    return "TORCHELASTIC_RUN_ID" in os.environ and "LOCAL_RANK" in os.environ


def torchrun_args(train: TrainParams, node_rank: int, script_argv: list[str]) -> list[str]:
    """torchrun's command line (without the program) for ``script_argv``."""
    args = [f"--nproc-per-node={train.nproc}"]
    if train.nnodes == 1:
        args.append("--standalone")
    else:
        host, port = train.master.rsplit(":", 1)
        args += [f"--nnodes={train.nnodes}", f"--node-rank={node_rank}",
                 f"--master-addr={host.strip('[]')}", f"--master-port={port}"]
    return args + script_argv


def run_ranks(train: TrainParams, node_rank: int, script_argv: list[str]) -> int:
    """Run the ranks with torchrun's agent in this process; what it raises becomes one line
    and the stage's status (128 + N for signal N, 1 for a failed rank), not a traceback."""
    # torchrun sets OMP_NUM_THREADS=1 per rank (with a warning) unless it is set: say it here.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with frozen_imports():
        from torch.distributed.elastic.multiprocessing.api import SignalException
        from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
        from torch.distributed.run import parse_args, run

    try:
        run(parse_args(torchrun_args(train, node_rank, script_argv)))
    except SignalException as stop:
        print(f"train: stopped by {signal.Signals(stop.sigval).name}", file=sys.stderr)
        return 128 + stop.sigval
    except ChildFailedError as failed:
        rank, failure = failed.get_first_failure()  # the cause; the others were stopped
        if failure.exitcode < 0:
            what = f"was killed by {signal.Signals(-failure.exitcode).name}"
        else:
            what = f"failed (exit status {failure.exitcode}); its message is above"
        print(f"train: error: rank {rank} {what}", file=sys.stderr)
        stopped = failure.exitcode - 128 if failure.exitcode > 128 else -failure.exitcode
        return 128 + stopped if stopped in (signal.SIGINT, signal.SIGTERM) else 1
    return 0
