"""What every stage script shares: logging to stderr, clean exits for user errors and signals.

* A :class:`PipelineError` (bad params, bad data, a full disk, ...) becomes one line on stderr
  and exit status 1, without a traceback; any other exception is a bug and keeps its traceback.
* SIGINT (Ctrl-C) and SIGTERM (``kill``, a cancelled CI job, a scheduler) both raise
  :class:`Stopped` in the main thread once :func:`stop_on_signals` is called, so a stage unwinds
  (its atomic writes leave nothing half-written) and exits with the shell's status for that
  signal, 128 + its number.
* :func:`stop_with_parent` also stops a stage whose parent died, when DVC (which sets
  ``DVC_STAGE`` for its stage commands) or torchrun started it: ``kill <pid of dvc>`` ends dvc
  alone (it passes no signal on), and the stage would otherwise train on as an orphan and write
  its output after ``dvc.lock`` was settled. DVC runs a stage's command with ``$SHELL -c`` (or
  ``/bin/sh -c``), and some shells (dash, Debian's ``/bin/sh``) stay alive between dvc and the
  stage instead of exec'ing it, so the watch also follows such a shell up to its own parent. A
  run started by hand (``nohup``, another node's rank over ssh) is left alone. The watch is a
  poll, so a stage also asks :func:`parent_gone` right before it writes its output: however fast
  it finishes, an orphan writes nothing.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from mnist_pipeline.errors import PipelineError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
PARENT_CHECK_S = 0.2
# Shells DVC may run a stage's command with (its $SHELL, else /bin/sh).
SHELLS = frozenset({"sh", "dash", "ash", "bash", "zsh", "ksh", "mksh", "fish", "busybox"})
_HAVE_PROC = os.path.exists("/proc/self/stat")
# (pid, its parent at start) for this process and a shell between it and its starter; set by
# stop_with_parent.
_watched: tuple[tuple[int, int], ...] = ()


class Stopped(KeyboardInterrupt):
    """The stage received a stop signal (``signum``)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stopped(signum: int, frame) -> None:
    raise Stopped(signum)


def stop_on_signals() -> None:
    """Turn SIGINT and SIGTERM into :class:`Stopped` from here on."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise_stopped)


def stop_with_parent() -> None:
    """Under DVC or torchrun, SIGTERM this process if its parent dies (polled every 0.2 s)."""
    global _watched
    if "DVC_STAGE" not in os.environ and "TORCHELASTIC_RUN_ID" not in os.environ:
        return
    parent = os.getppid()
    watched = [(os.getpid(), parent)]
    if _name_of(parent) in SHELLS:
        # `sh -c "python stages/train.py ..."` that did not exec: killing dvc leaves that shell
        # alive (and this process's parent unchanged), so the shell's parent is watched too.
        grandparent = _parent_of(parent)
        if grandparent is not None:
            watched.append((parent, grandparent))
    _watched, never = tuple(watched), threading.Event()

    def watch() -> None:
        while not parent_gone():
            never.wait(PARENT_CHECK_S)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def parent_gone() -> bool:
    """Whether the process that started this stage has died (False if none is watched).

    Each watched process must still have the parent it had at start: one that died is
    reparented (to init or a subreaper), so this also holds when a pid is reused.
    """
    return any(_parent_of(pid) != parent for pid, parent in _watched)


def _parent_of(pid: int) -> int | None:
    """``pid``'s parent, or None if ``pid`` has exited."""
    if pid == os.getpid():
        return os.getppid()
    found = _process(pid)
    return found[1] if found else None


def _name_of(pid: int) -> str:
    """``pid``'s program name ("sh", "bash", "dvc", ...), or "" if it has exited."""
    found = _process(pid)
    return found[0] if found else ""


def _process(pid: int) -> tuple[str, int] | None:
    """``pid``'s program name and parent, or None if it has exited."""
    if _HAVE_PROC:  # Linux: one small read, no import
        try:
            stat = Path(f"/proc/{pid}/stat").read_bytes()  # "pid (name) state ppid ..."
        except (FileNotFoundError, ProcessLookupError):
            return None
        name, rest = stat[stat.index(b"(") + 1:].rsplit(b")", 1)
        return name.decode(errors="replace"), int(rest.split()[1])
    import psutil  # macOS and other systems without /proc

    try:
        process = psutil.Process(pid)
        return process.name(), process.ppid()
    except psutil.NoSuchProcess:
        return None


def signal_of(stop: BaseException) -> int:
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
