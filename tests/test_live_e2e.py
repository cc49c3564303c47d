"""A queued experiment watched while it runs: `dvc exp show --json` shows each model's epochs
as they finish, before any evaluate stage has run."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from project import create_project, run
from synthetic import make_splits, write_pickle

pytestmark = pytest.mark.slow


def running_metrics(show: list) -> dict[str, dict]:
    """The experiments' metrics files in one `dvc exp show --json`, by file name."""
    found = {}
    for entry in show:
        for experiment in entry.get("experiments") or []:
            for rev in experiment.get("revs") or []:
                for path, content in ((rev.get("data") or {}).get("metrics") or {}).items():
                    found[path] = content.get("data") or {}
    return found


def test_a_queued_experiment_shows_its_epochs_while_it_trains(tmp_path):
    data = write_pickle(make_splits(4000, 500, 500, seed=4), tmp_path / "mnist.pkl.gz")
    project = create_project(tmp_path / "project", str(data), data)
    run(["dvc", "repro"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", "baseline"], project)
    run(["dvc", "exp", "run", "--queue", "-S", "train.epochs=5"], project)
    # The worker runs detached and keeps no pipe of ours open.
    subprocess.run(["dvc", "queue", "start"], cwd=project, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: list[tuple[str, str, int, bool]] = []  # (file, status, epoch, has test scores)
    deadline, ended = time.monotonic() + 600, False
    while not ended and time.monotonic() < deadline:
        queue = run(["dvc", "queue", "status"], project).stdout
        ended = "Running" not in queue and "Queued" not in queue
        show = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
        for path, metrics in running_metrics(show).items():
            train = metrics.get("train", {})
            seen.append((path, train.get("status"), train.get("epoch", 0), "test" in metrics))
    assert ended, seen
    live = [s for s in seen if s[1] in ("training", "trained") and s[2] >= 1]
    assert live, f"no epoch was seen while training: {seen}"
    assert not any(has_test for *_, has_test in live)  # before its evaluate stage ran
    # Then the evaluate stage's final form of the same file.
    later = seen[seen.index(live[0]):]
    assert (live[0][0], "done", 0, True) in later
    queue = run(["dvc", "queue", "status"], project).stdout
    assert "Success" in queue, queue
    # DVCLive's signal to the VS Code extension, in the workspace it watches (not the copy).
    signal = json.loads((project / ".dvc/tmp/exps/run/DVCLIVE_STEP_COMPLETED").read_text())
    assert signal["step"] == 5
    run(["dvc", "queue", "stop"], project, check=False)
