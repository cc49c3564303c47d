"""Trainings watched while they run: `dvc exp show --json` and `dvc plots show --json` show each
model's epochs as they finish, from DVCLive's files in the train stage's live folder, before the
run ends: in the workspace (`dvc repro`) and in a queued experiment's temporary workspace."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from project import create_project, run, set_params
from synthetic import make_splits, write_pickle

pytestmark = pytest.mark.slow


def running_metrics(show: list, workspace: bool) -> dict[str, dict]:
    """The metrics files in one `dvc exp show --json`, by file name: the workspace's, or the
    experiments'."""
    found = {}
    for entry in show:
        if workspace and entry.get("rev") != "workspace":
            continue
        revs = [entry] if workspace else [rev for exp in entry.get("experiments") or []
                                          for rev in exp.get("revs") or []]
        for rev in revs:
            for path, content in ((rev.get("data") or {}).get("metrics") or {}).items():
                found[path] = content.get("data") or {}
    return found


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("live")
    data = write_pickle(make_splits(4000, 500, 500, seed=4), root / "mnist.pkl.gz")
    project = create_project(root / "project", str(data), data)
    # One model is enough to watch (dvc.yaml's charts still name the others).
    set_params(project, {"models": {"cnn": {"lr": 0.1, "momentum": 0.9}}})
    run(["dvc", "repro"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", "baseline"], project)
    return project


def test_a_repro_in_the_workspace_shows_its_epochs_while_it_trains(project):
    # Small batches: epochs of many steps, long enough to be seen between two looks.
    set_params(project, {"train.epochs": 5, "train.bs": 8})
    repro = subprocess.Popen(["dvc", "repro", "train@cnn"], cwd=project,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shown, drawn = [], []  # (status, step) in exp show; steps drawn in plots show
    try:
        while repro.poll() is None:
            metrics = running_metrics(json.loads(run(["dvc", "exp", "show", "--json"],
                                                     project).stdout), workspace=True)
            live = metrics.get("live/cnn/metrics.json", {})
            shown.append((live.get("status"), live.get("step", 0)))
            plots = json.loads(run(["dvc", "plots", "show", "--json"], project).stdout)
            rows = [row for render in plots["data"]["Validation loss per epoch"]
                    for row in render["content"]["data"]["values"]
                    if row["filename"].startswith(("cnn/", "live/cnn/"))]  # DVC drops
            # the files' common prefix from their names
            drawn.append(len(rows))
        assert json.loads((project / "live/cnn/metrics.json").read_text())["step"] == 5
    finally:
        repro.wait(timeout=600)
        run(["git", "checkout", "HEAD", "--", "."], project)  # params.yaml and dvc.lock
        run(["dvc", "checkout"], project)
    assert repro.returncode == 0
    assert any(status == "training" and 1 <= step < 5 for status, step in shown), shown
    assert any(0 < count < 5 for count in drawn), drawn


def test_a_queued_experiment_shows_its_epochs_while_it_trains(project):
    # Other settings than the workspace's run: nothing for the run-cache to restore.
    run(["dvc", "exp", "run", "--queue", "-S", "train.epochs=5", "-S", "train.bs=10"], project)
    # The worker runs detached and keeps no pipe of ours open.
    subprocess.run(["dvc", "queue", "start"], cwd=project, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: list[tuple[str, str | None, int]] = []  # (live file, status, step)
    deadline, ended = time.monotonic() + 600, False
    while not ended and time.monotonic() < deadline:
        queue = run(["dvc", "queue", "status"], project).stdout
        ended = "Running" not in queue and "Queued" not in queue
        show = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
        seen += [(path, metrics.get("status"), metrics.get("step", 0))
                 for path, metrics in running_metrics(show, workspace=False).items()
                 if path.startswith("live/")]
    assert ended, seen
    training = [s for s in seen if s[1] == "training" and 1 <= s[2] < 5]
    assert training, f"no epoch was seen while training: {seen}"
    # Then the same file at its end.
    assert (training[0][0], "done", 5) in seen[seen.index(training[0]):]
    queue = run(["dvc", "queue", "status"], project).stdout
    assert "Success" in queue, queue
    run(["dvc", "queue", "stop"], project, check=False)
