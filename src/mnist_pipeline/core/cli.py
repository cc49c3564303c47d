"""What every stage script shares: logging to stderr, clean exits for user errors and signals.

A :class:`PipelineError` is one line and exit 1 (other exceptions keep their traceback);
SIGINT and SIGTERM raise :class:`Stopped`, exit 128 + N. :func:`stop_with_parent` stops a stage
whose starter died (``kill <pid of dvc>``), even through a shell that stayed in between, so no
orphan writes after ``dvc.lock`` was settled."""

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

from mnist_pipeline.core.errors import PipelineError

PARENT_CHECK_S = 0.2
# Shells DVC may run a stage's command with (its $SHELL, else /bin/sh).
SHELLS = frozenset({"sh", "dash", "ash", "bash", "zsh", "ksh", "mksh", "fish", "busybox"})
_watched: list[tuple[object, int]] = []  # (psutil.Process, its parent's pid at start)


class Stopped(KeyboardInterrupt):
    """The stage received a stop signal (``signum``)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stopped(signum: int, frame) -> None:
    raise Stopped(signum)


def stop_on_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _raise_stopped)


def stop_with_parent() -> None:
    """Under DVC or torchrun, SIGTERM this process once its starter dies (polled every 0.2 s)."""
    if "DVC_STAGE" not in os.environ and "TORCHELASTIC_RUN_ID" not in os.environ:
        return
    import psutil

    me = psutil.Process()
    _watched[:] = [(me, me.ppid())]
    with contextlib.suppress(psutil.Error):  # a parent gone already: the watch notices at once
        parent = me.parent()
        if parent is not None and parent.name() in SHELLS:  # `sh -c "python ..."` stayed
            _watched.append((parent, parent.ppid()))

    def watch() -> None:
        while not parent_gone():
            time.sleep(PARENT_CHECK_S)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def parent_gone() -> bool:
    """Whether the process that started this stage has died (False if none is watched)."""
    import psutil

    try:
        return any(process.ppid() != parent for process, parent in _watched)
    except psutil.NoSuchProcess:  # the shell in between has exited
        return True


def signal_of(stop: BaseException | None) -> int:
    """The signal behind a stop (a plain KeyboardInterrupt is SIGINT)."""
    while stop is not None:
        if isinstance(stop, Stopped):
            return stop.signum
        stop = stop.__cause__ or stop.__context__
    return signal.SIGINT


def run_stage(main: Callable[[], None], name: str) -> None:
    """Run a stage's ``main``: errors and stop signals end it with one line and a status."""
    rank = int(os.environ.get("RANK", "0"))
    prefix = name if rank == 0 else f"{name}[rank {rank}]"
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format=f"{prefix}: %(message)s", stream=sys.stderr)
    try:
        main()
    except PipelineError as err:
        print(f"{prefix}: error: {err}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt as stop:
        signum = signal_of(stop)
        print(f"{prefix}: stopped by {signal.Signals(signum).name}", file=sys.stderr)
        sys.exit(128 + signum)
