"""The stage's watch on the process that started it, on real process trees.

DVC runs a stage's command with ``$SHELL -c``; bash replaces itself with the command, dash
(Debian's ``/bin/sh``) and any shell running more than one command stay in between. Killing
the starter must stop the stage however it was started, and a stage not started by DVC or
torchrun must be left alone.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import wait_until

STAGE = """
import os, sys, time
from pathlib import Path
from mnist_pipeline.core.cli import Stopped, stop_on_signals, stop_with_parent

def report(name, text):  # whole or not at all: the test reads it as soon as it exists
    (out / f"{name}.tmp").write_text(text)
    os.replace(out / f"{name}.tmp", out / name)

stop_with_parent()
stop_on_signals()
out = Path(sys.argv[1])
report("ready", str(os.getpid()))
try:
    time.sleep(30)
    report("outcome", "slept on")
except Stopped as stop:
    report("outcome", f"stopped by {stop}")
"""

# The starter (standing in for dvc) runs the stage, prints nothing and waits to be killed.
STARTER = """
import subprocess, sys, time
subprocess.Popen(sys.argv[1:])
time.sleep(60)
"""


def start(tmp_path: Path, command: list[str], env: dict[str, str]) -> subprocess.Popen:
    starter = subprocess.Popen([sys.executable, "-c", STARTER, *command], env=env)
    wait_until((tmp_path / "ready").exists, 60, "the stage started")
    return starter


def kill_stage(tmp_path: Path) -> None:
    """The stage, if it is still running: a failed test leaves no orphan behind."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(int((tmp_path / "ready").read_text()), signal.SIGKILL)


def stage_command(tmp_path: Path, how: str) -> list[str]:
    stage = [sys.executable, "-c", STAGE, str(tmp_path)]
    line = shlex.join(stage)
    return {
        "directly": stage,
        "by /bin/sh -c": ["/bin/sh", "-c", line],
        # A second command keeps any shell alive between the starter and the stage.
        "by a shell that stays": ["/bin/sh", "-c", f"{line}; exit $?"],
    }[how]


@pytest.mark.parametrize("how", ["directly", "by /bin/sh -c", "by a shell that stays"])
def test_killing_dvc_stops_its_stage(tmp_path, how):
    env = {**os.environ, "DVC_STAGE": "train@cnn"}
    starter = start(tmp_path, stage_command(tmp_path, how), env)
    starter.send_signal(signal.SIGKILL)
    starter.wait()
    try:
        wait_until((tmp_path / "outcome").exists, 5, "the orphaned stage stopped")
    finally:
        kill_stage(tmp_path)
    assert (tmp_path / "outcome").read_text() == "stopped by SIGTERM"


def test_a_stage_started_by_hand_is_left_alone_when_its_parent_exits(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DVC_STAGE", "TORCHELASTIC_RUN_ID")}
    starter = start(tmp_path, stage_command(tmp_path, "by a shell that stays"), env)
    starter.send_signal(signal.SIGKILL)
    starter.wait()
    time.sleep(1.5)  # well past the watch's 0.2 s poll
    try:
        assert not (tmp_path / "outcome").exists()
    finally:
        kill_stage(tmp_path)
