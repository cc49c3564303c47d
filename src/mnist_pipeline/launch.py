"""Start the train stage's ranks with torchrun when ``train.nproc`` or ``train.nnodes`` > 1.

The stage command stays ``python stages/train.py <model> ...``; with several ranks that process
becomes a small launcher (no torch import) that runs the same command under
``python -m torch.distributed.run``:

* one node: ``--standalone``, whose rendezvous listens on a free port, so two trainings on one
  machine (``dvc queue start -j 2``) cannot collide;
* several nodes: a static rendezvous at ``train.master`` (node 0's ``host:port``) with
  ``--node-rank``. The node running ``dvc repro`` is node 0, so global rank 0, which writes the
  model, is in the DVC workspace; the others run the same command with ``--node-rank N``.

torchrun stops every rank when one fails and exits non-zero; the launcher returns that status.
It runs torchrun in a process group of its own and passes on SIGINT and SIGTERM exactly once
(torchrun hands them to every rank), so Ctrl-C in a terminal is not delivered twice.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys

from mnist_pipeline.params import TrainParams


def under_torchrun() -> bool:
    """True in a rank that torchrun started (it sets ``TORCHELASTIC_RUN_ID`` and the ranks)."""
    return "TORCHELASTIC_RUN_ID" in os.environ and "LOCAL_RANK" in os.environ


def torchrun_command(train: TrainParams, node_rank: int, script_argv: list[str]) -> list[str]:
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={train.nproc}"]
    if train.nnodes == 1:
        command.append("--standalone")
    else:
        host, port = train.master.rsplit(":", 1)
        command += [f"--nnodes={train.nnodes}", f"--node-rank={node_rank}",
                    f"--master-addr={host.strip('[]')}", f"--master-port={port}"]
    return command + script_argv


def run_ranks(command: list[str]) -> int:
    """Run ``command`` (torchrun), passing SIGINT/SIGTERM on; its exit status (128+N: signal N)."""
    env = dict(os.environ)
    # torchrun sets OMP_NUM_THREADS=1 per rank unless it is set; say so rather than surprise.
    env.setdefault("OMP_NUM_THREADS", "1")
    child = subprocess.Popen(command, env=env, start_new_session=True,
                             preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    previous = {}

    def forward(signum, frame):
        child.send_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, forward)
    try:
        status = child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 - status if status < 0 else status


def _die_with_parent() -> None:
    # In the child, before exec: SIGTERM it if the launcher dies (even by SIGKILL), since its
    # own session keeps it from the launcher's process group.
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
