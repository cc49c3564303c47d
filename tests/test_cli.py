"""The stage's watch on the process that started it, on real process trees.

DVC runs a stage's command with ``$SHELL -c``; bash replaces itself with the command, dash
(Debian's ``/bin/sh``) and any shell running more than one command stay in between. Killing
the starter must stop the stage however it was started, and a stage not started by DVC or
torchrun must be left alone.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

STAGE = """
import os, sys, time
from pathlib import Path
from mnist_pipeline.cli import Stopped, stop_on_signals, stop_with_parent

stop_with_parent()
stop_on_signals()
out = Path(sys.argv[1])
(out / "ready").write_text(str(os.getpid()))
try:
    time.sleep(30)
    (out / "outcome").write_text("slept on")
except Stopped as stop:
    (out / "outcome").write_text(f"stopped by {stop}")
"""

# The starter (standing in for dvc) runs the stage, prints nothing and waits to be killed.
STARTER = """
import subprocess, sys, time
subprocess.Popen(sys.argv[1:])
time.sleep(60)
"""


def wait_for(path: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return path.exists()


def start(tmp_path: Path, command: list[str], env: dict[str, str]) -> subprocess.Popen:
    starter = subprocess.Popen([sys.executable, "-c", STARTER, *command], env=env)
    assert wait_for(tmp_path / "ready", 60), "the stage did not start"
    return starter


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
    assert wait_for(tmp_path / "outcome", 5), "the stage trained on as an orphan"
    assert (tmp_path / "outcome").read_text() == "stopped by SIGTERM"


def test_a_stage_started_by_hand_is_left_alone_when_its_parent_exits(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DVC_STAGE", "TORCHELASTIC_RUN_ID")}
    starter = start(tmp_path, stage_command(tmp_path, "by a shell that stays"), env)
    starter.send_signal(signal.SIGKILL)
    starter.wait()
    try:
        assert not wait_for(tmp_path / "outcome", 1.5)
    finally:
        os.kill(int((tmp_path / "ready").read_text()), signal.SIGKILL)
