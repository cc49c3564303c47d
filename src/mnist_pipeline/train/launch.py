"""Start the train stage's ranks with torchrun when ``train.nproc`` or ``train.nnodes`` > 1: the
stage's process runs torchrun's agent in-process, which starts the same command once per rank,
stops them all when one fails and hands signals on. One node: ``--standalone`` (a free port);
several: a static rendezvous at ``train.master``, node 0 being DVC's workspace. Node 0 starts
first and waits for the others; another node that finds nobody there stops in one line.
"""

import os
import signal
import socket
import sys
import time

from mnist_pipeline.core.cli import frozen_imports
from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.core.params import TrainParams

# How long the nodes wait for each other: node 0 for the others to join at train.master (they
# are started by hand after it), another node for node 0 to answer there (it was started first).
WAIT_FOR_NODES_S = 600
WAIT_FOR_MASTER_S = 30


class LaunchError(PipelineError, RuntimeError):
    """The ranks asked for cannot run here."""


def check_devices(train: TrainParams, cuda_devices: int | None = None) -> None:
    """Refuse, before any work, ranks this node cannot run: one GPU per rank. Only CUDA
    settings ask torch for ``cuda_devices``, so a CPU run never imports it here."""
    if train.device == "cpu" or train.device == "mps":
        if train.device == "mps" and train.nproc > 1:
            raise LaunchError("train.nproc > 1 needs CPU (gloo) or CUDA (nccl) ranks, not mps")
        return
    if train.device.startswith("cuda:") and train.ranks > 1:
        raise LaunchError(f"train.device is {train.device!r} with {train.ranks} ranks "
                          f"(train.nproc {train.nproc} x train.nnodes {train.nnodes}): each rank "
                          "takes its own GPU (cuda:<local rank>); use 'cuda'")
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
        host, port = master_address(train.master)
        args += [f"--nnodes={train.nnodes}", f"--node-rank={node_rank}",
                 f"--master-addr={host}", f"--master-port={port}",
                 f"--rdzv-conf=timeout={WAIT_FOR_NODES_S}"]
    return args + script_argv


def master_address(master: str) -> tuple[str, int]:
    """``train.master``'s host (an IPv6 one without its brackets) and port."""
    host, port = master.rsplit(":", 1)
    return host.strip("[]"), int(port)


def wait_for_master(master: str, timeout: float = WAIT_FOR_MASTER_S) -> None:
    """Return once something accepts a connection at ``master``; fail in one line after
    ``timeout`` seconds. torchrun makes the same connection, but ends a failed one in a C++
    backtrace, after 10 minutes by default."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(master_address(master), timeout=5).close()
            return
        except socket.gaierror as err:
            raise LaunchError(f"train.master {master}: unknown host ({err.strerror})") from None
        except OSError as err:
            if time.monotonic() >= deadline:
                raise LaunchError(
                    f"nobody answers at train.master {master} after {timeout:g} s "
                    f"({err.strerror or err}): start node 0 (dvc repro) first, and check "
                    "train.master") from None
            time.sleep(1)


def run_ranks(train: TrainParams, node_rank: int, script_argv: list[str]) -> int:
    """Run the ranks with torchrun's agent in this process; what it raises becomes one line
    and the stage's status (128 + N for signal N, 1 for a failed rank), not a traceback."""
    if train.nnodes > 1 and node_rank > 0:
        wait_for_master(train.master)
    # torchrun sets OMP_NUM_THREADS=1 per rank (with a warning) unless it is set: say it here.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with frozen_imports():
        from torch.distributed import DistError
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
    except DistError as missed:  # e.g. node 0 waited WAIT_FOR_NODES_S for the others in vain
        reason = str(missed).splitlines()[0] if str(missed) else type(missed).__name__
        print(f"train: error: the nodes did not meet at train.master {train.master}: {reason}",
              file=sys.stderr)
        return 1
    return 0
