"""The train stage handed over to torchrun (``train.nproc`` or ``train.nnodes`` > 1): torchrun's
command line, run in the stage's process, starts the stage once per rank, stops them all when
one fails and hands signals on. One node: ``--standalone``; several: torchrun's static
rendezvous at ``train.master``, node 0 being DVC's workspace (docs/scaling.md)."""

import logging
import os
import signal
import sys

from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.core.params import TrainParams


class LaunchError(PipelineError, RuntimeError):
    """The ranks asked for cannot run here."""


def check_devices(train: TrainParams, cuda_devices: int) -> None:
    """Refuse, before any work, ranks this node cannot run: one GPU per rank."""
    if train.device == "mps" and train.nproc > 1:
        raise LaunchError("train.nproc > 1 needs CPU (gloo) or CUDA (nccl) ranks, not mps")
    if train.device.startswith("cuda:"):
        raise LaunchError(f"train.device is {train.device!r} with {train.ranks} ranks "
                          f"(train.nproc {train.nproc} x train.nnodes {train.nnodes}): each rank "
                          "takes its own GPU (cuda:<local rank>); use 'cuda'")
    on_gpus = train.device == "cuda" or train.device == "auto" and cuda_devices > 0
    if on_gpus and train.nproc > cuda_devices:
        raise LaunchError(f"train.nproc is {train.nproc} but this node has {cuda_devices} "
                          "CUDA device(s): one GPU per rank")


def under_torchrun() -> bool:  # torchrun sets both in each rank
    return {"TORCHELASTIC_RUN_ID", "LOCAL_RANK"} <= os.environ.keys()


def torchrun_args(train: TrainParams, node_rank: int = 0) -> list[str]:
    """torchrun's options for the ranks ``train`` asks for, on node ``node_rank``."""
    if train.nnodes == 1:
        return [f"--nproc-per-node={train.nproc}", "--standalone"]
    host, port = train.master.rsplit(":", 1)
    return [f"--nproc-per-node={train.nproc}", f"--nnodes={train.nnodes}",
            f"--node-rank={node_rank}", f"--master-addr={host.strip('[]')}",
            f"--master-port={port}"]


def run_ranks(train: TrainParams, script_argv: list[str]) -> int:
    """Node 0's ranks of ``script_argv``, by torchrun; the stage's exit status (128 + N for
    signal N, else 1) and one line for what torchrun raises."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # what torchrun sets, with a warning
    # torchrun's agent logs what the stage says below, in one line.
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    import torch
    from torch.distributed import DistError
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    check_devices(train, torch.cuda.device_count())
    try:
        torchrun([*torchrun_args(train), *script_argv])
    except SignalException as stop:
        print(f"train: stopped by {signal.Signals(stop.sigval).name}", file=sys.stderr)
        return 128 + stop.sigval
    except ChildFailedError as failed:
        rank, failure = failed.get_first_failure()  # the cause; the others were stopped
        status = failure.exitcode
        what = (f"was killed by {signal.Signals(-status).name}" if status < 0
                else f"failed (exit status {status}); its message is above")
        print(f"train: error: rank {rank} {what}", file=sys.stderr)
        stopped = status - 128 if status > 128 else -status
        return 128 + stopped if stopped in (signal.SIGINT, signal.SIGTERM) else 1
    except DistError as missed:  # e.g. node 0 waited in vain for the others
        reason = str(missed).splitlines()[0] if str(missed) else type(missed).__name__
        print(f"train: error: the nodes did not meet at train.master {train.master}: {reason}",
              file=sys.stderr)
        return 1
    return 0
