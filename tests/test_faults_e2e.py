"""Faults under the real `dvc repro`: divergence, Ctrl-C, `kill`, two runs at once, a full disk.

Each test checks what the user sees (exit status, message), what is left on disk (no model, no
partial file, `dvc.lock` untouched) and that the next `dvc repro` recovers: an interrupted
training resumes from its last finished epoch and ends with the same bytes as a run that was
never interrupted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import MODEL_NAMES, ROOT, limit_file_size, wait_until
from project import create_project, repro, run, set_params, stages_restored, stages_run
from synthetic import make_splits, write_pickle

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A small project that has run `dvc repro` once."""
    root = tmp_path_factory.mktemp("faults")
    dataset = write_pickle(make_splits(600, 200, 200, seed=5), root / "mnist.pkl.gz")
    path = create_project(root / "project", str(dataset), dataset)
    repro(path)
    return path


def dvc(project: Path, *args: str) -> subprocess.Popen:
    """`dvc <args>` as a terminal would start it: its own process group, SIGINT not ignored.

    DVC runs each stage with `$SHELL -c`. `/bin/sh` (what DVC uses where SHELL is unset) is dash
    on Debian, which stays alive between dvc and the stage: the harder case for the stage's
    watch on dvc, tried here wherever the tests run.
    """
    return subprocess.Popen(["dvc", *args], cwd=project, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env={**os.environ, "SHELL": "/bin/sh"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def test_a_diverging_learning_rate_fails_without_writing_a_model(project):
    lock = (project / "dvc.lock").read_bytes()
    results = {path: path.read_bytes() for folder in ("metrics", "plots")
               for path in (project / folder).rglob("*") if path.is_file()}
    set_params(project, {"models.scratch.lr": 1000})
    try:
        result = run(["dvc", "repro", "train@scratch"], project, check=False)
        output = result.stdout + result.stderr
        assert result.returncode != 0
        assert "train: error: the loss became" in output and "in epoch 1 at step" in output
        assert "no model written. Lower models.scratch.lr (now 1000.0)" in output
        assert not (project / "models" / "scratch.safetensors").exists()
        assert not (project / ".checkpoints").exists()
        assert (project / "dvc.lock").read_bytes() == lock
        marked = json.loads((project / "live" / "scratch" / "metrics.json").read_text())
        assert marked["status"] == "diverged"
        # The results kept in git are evaluate's, untouched by the failed training.
        assert {path: path.read_bytes() for path in results} == results
    finally:
        set_params(project, {"models.scratch.lr": 0.5})
    # The failed run recorded nothing: the outputs it replaced come back from the run-cache,
    # and evaluate, whose input is the same model again, has nothing to do.
    assert stages_restored(run(["dvc", "repro"], project).stdout) == ["train@scratch"]
    assert json.loads((project / "live" / "scratch" / "metrics.json").read_text())["status"] \
        == "done"
    assert run(["dvc", "status", "--json"], project).stdout.strip() == "{}"


def test_the_outputs_of_a_failed_first_repro_stay_out_of_git(tmp_path):
    # A failed `dvc repro` takes back the .gitignore entries it added, those of the stages that
    # finished too (treeverse/dvc#11091): the project's own .gitignore keeps them ignored.
    dataset = write_pickle(make_splits(300, 100, 100, seed=6), tmp_path / "mnist.pkl.gz")
    project = create_project(tmp_path / "project", str(dataset), dataset)
    set_params(project, {"models.scratch.lr": 1000})  # diverges: the third stage fails
    result = run(["dvc", "repro"], project, check=False)
    assert result.returncode != 0
    assert stages_run(result.stdout) == ["fetch", "convert", "train@scratch"]
    assert (project / "data" / "tensors" / "train.safetensors").exists()
    untracked = run(["git", "status", "--porcelain", "--untracked-files=all"], project).stdout
    # What git would offer to add: plots and metrics (they belong in git), no DVC-cached data.
    assert [line for line in untracked.splitlines()
            if line.startswith(("?? data/", "?? models/"))] == []


def test_two_repros_at_once_one_runs_the_other_fails_and_nothing_breaks(project):
    set_params(project, {"models.logistic.lr": 0.25})  # new work for both to want
    try:
        both = [dvc(project, "repro"), dvc(project, "repro")]
        outputs = [p.communicate(timeout=600)[0] for p in both]
        codes = sorted(p.returncode for p in both)
        assert codes[0] == 0 and codes[1] != 0, outputs
        loser = outputs[[p.returncode for p in both].index(codes[1])]
        assert "is busy, it is being blocked by" in loser or "Unable to acquire lock" in loser
        assert run(["dvc", "status", "--json"], project).stdout.strip() == "{}"
        from mnist_pipeline.evaluate.scoring import load_model

        for name in MODEL_NAMES:
            load_model(name, project / "models" / f"{name}.safetensors")
    finally:
        set_params(project, {"models.logistic.lr": 0.5})
        run(["dvc", "repro"], project)


def test_a_full_disk_fails_the_stage_and_leaves_no_partial_output(project, tmp_path):
    # RLIMIT_FSIZE makes every write past 100 kB fail with EFBIG, as a full disk fails with
    # ENOSPC: the train split's tensor file (~2 MB here) cannot be written.
    out = tmp_path / "tensors"
    result = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "convert.py"), str(project / "data" / "raw"),
         str(out)], capture_output=True, text=True, timeout=300,
        preexec_fn=limit_file_size(100_000))
    assert result.returncode == 1
    assert "could not write it: file too large" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() or list(out.iterdir()) == []


@pytest.fixture(scope="module")
def long_project(tmp_path_factory):
    """A project whose CNN trains long enough (4 epochs of 6,000 images) to be interrupted."""
    root = tmp_path_factory.mktemp("long")
    dataset = write_pickle(make_splits(6_000, 500, 500, seed=6), root / "mnist.pkl.gz")
    path = create_project(root / "project", str(dataset), dataset, epochs=4)
    repro(path, "convert")
    return path


def wait_for_checkpoint(path: Path, newer_than: float = 0.0) -> None:
    wait_until(lambda: path.exists() and path.stat().st_mtime > newer_than, 300,
               f"a checkpoint at {path}")


def stages_in_session(session: int) -> list[str]:
    """The train stages still running in dvc's session (dvc was started as its leader)."""
    ps = subprocess.run(["ps", "-e", "-o", "sid=,args="], capture_output=True, text=True,
                        check=True).stdout
    return [args for sid, _, args in (line.strip().partition(" ") for line in ps.splitlines())
            if int(sid) == session and "stages/train.py" in args]


def test_ctrl_c_and_kill_stop_training_and_the_next_repro_resumes_to_the_same_bytes(
        long_project):
    project = long_project
    model = project / "models" / "cnn.safetensors"
    checkpoint = project / ".checkpoints" / "cnn.pt"
    lock = (project / "dvc.lock").read_bytes()

    # Ctrl-C: SIGINT to dvc's whole process group, after the first epoch's checkpoint.
    first = dvc(project, "repro", "train@cnn")
    wait_for_checkpoint(checkpoint)
    os.killpg(first.pid, signal.SIGINT)
    output = first.communicate(timeout=60)[0]
    assert first.returncode == 255  # dvc's own status; the stage's was 130 (SIGINT)
    assert "train: interrupted in epoch" in output and "run `dvc repro` again to resume" in output
    assert not model.exists() and checkpoint.exists()
    assert (project / "dvc.lock").read_bytes() == lock
    # The live view says so, with the epochs that finished: not a finished run's look.
    live = json.loads((project / "live" / "cnn" / "metrics.json").read_text())
    assert live["status"] == "stopped" and live["step"] >= 1

    # `kill <pid of dvc>`: dvc dies alone, passing nothing on; the stage notices and stops.
    saved = checkpoint.stat().st_mtime
    second = dvc(project, "repro", "train@cnn")
    wait_for_checkpoint(checkpoint, newer_than=saved)
    second.send_signal(signal.SIGTERM)
    second.communicate(timeout=60)
    wait_until(lambda: stages_in_session(second.pid) == [], 30, "the orphaned stage stopped")
    assert not model.exists() and checkpoint.exists()
    assert (project / "dvc.lock").read_bytes() == lock

    resumed = run(["dvc", "repro", "train@cnn"], project)
    assert "resuming after epoch" in resumed.stdout + resumed.stderr
    assert not checkpoint.exists()
    interrupted_twice = model.read_bytes(), live_files(project / "live" / "cnn")
    # The live view's step series continues where it stopped: no epoch twice, none missing.
    curve = (project / "live/cnn/plots/metrics/valid_loss.tsv").read_text().splitlines()
    assert [row.split("\t")[0] for row in curve[1:]] == ["1", "2", "3", "4"]

    fresh = run(["dvc", "repro", "--force", "--single-item", "train@cnn"], project)
    assert "resuming" not in fresh.stdout + fresh.stderr
    assert (model.read_bytes(), live_files(project / "live" / "cnn")) == interrupted_twice


def live_files(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in folder.rglob("*") if path.is_file()}
