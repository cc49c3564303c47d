"""A queued experiment watched while it runs: `dvc exp show --json` shows each model's epochs
as they finish, from the train stage's own live file, before the run ends."""

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
    # Small batches: epochs of many steps, long enough to be seen between two exp shows.
    run(["dvc", "exp", "run", "--queue", "-S", "train.epochs=5", "-S", "train.bs=8"], project)
    # The worker runs detached and keeps no pipe of ours open.
    subprocess.run(["dvc", "queue", "start"], cwd=project, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: list[tuple[str, str | None, int]] = []  # (live file, status, epoch)
    deadline, ended = time.monotonic() + 600, False
    while not ended and time.monotonic() < deadline:
        queue = run(["dvc", "queue", "status"], project).stdout
        ended = "Running" not in queue and "Queued" not in queue
        show = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
        seen += [(path, metrics.get("status"), metrics.get("epoch", 0))
                 for path, metrics in running_metrics(show).items()
                 if path.startswith("live/")]
    assert ended, seen
    training = [s for s in seen if s[1] == "training" and 1 <= s[2] < 5]
    assert training, f"no epoch was seen while training: {seen}"
    # Then the same file at its end.
    assert (training[0][0], "done", 5) in seen[seen.index(training[0]):]
    queue = run(["dvc", "queue", "status"], project).stdout
    assert "Success" in queue, queue
    # No private file of another tool: the live view is this project's own outputs.
    assert not (project / ".dvc/tmp/exps/run/DVCLIVE_STEP_COMPLETED").exists()
    run(["dvc", "queue", "stop"], project, check=False)
