"""SIGKILLs at seeded random moments of a first `dvc repro`, a few of `tests/kill_runs.py`'s:
the run resumes each time and ends equal to an uninterrupted one. The script runs dozens."""

from __future__ import annotations

import random

import kill_runs
import pytest
from dvc_repair import REFUSED
from kill_runs import Kill, check_finished, plan, project_pair, run_and_kill

from conftest import MODEL_NAMES
from project import REPAIR, run, stages_restored, stages_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A reference project run to the end, a twin not yet run, and the reference's stage times."""
    reference, killed = project_pair(tmp_path_factory.mktemp("kills"), epochs=2,
                                     sizes=(3000, 500, 500))
    return reference, killed, kill_runs.timed_stages(reference)


def test_kills_at_random_moments_end_in_an_uninterrupted_runs_files(pair):
    reference, killed, durations = pair
    rng = random.Random(3)
    # One kill of the whole group in each of three stages, the training's process alone (an
    # OOM kill), and dvc alone while a stage runs.
    kills = [k for k in plan(durations, 1, seed=3)
             if k.target in ("convert", "train@logistic", "evaluate")]
    kills.insert(1, Kill("train@scratch", round(rng.uniform(0, durations["train@scratch"]), 3),
                         "stage"))
    kills.insert(3, Kill("train@cnn", round(rng.uniform(0, durations["train@cnn"]), 3), "dvc"))
    landed = [run_and_kill(killed, kill, durations) for kill in kills]
    assert all(landed), kill_runs.report(kills)
    assert kills[1].status not in (0, None)  # dvc reports the stage's death as a failure
    assert check_finished(killed, reference) == [], kill_runs.report(kills)


CUTS = {
    # A SIGKILL in the middle of DVC's rewrite of dvc.lock leaves its first part, here cut inside
    # a key (other cuts: tests/test_lock_cuts_e2e.py). With core.autostage DVC stages dvc.lock
    # in git after each run; without it, git has none.
    "dvc.lock, staged in git": ("dvc.lock' validation failed", "took git's staged copy"),
    "dvc.lock, not in git": ("dvc.lock' validation failed", "removed it (git has none)"),
    # ...and of .dvc/tmp/rwlock, which dvc rewrites as each stage starts and ends: empty (the
    # likeliest, its JSON is written at close) or cut inside.
    "empty rwlock": ("Unable to read RWLock-file '.dvc/tmp/rwlock'", "removed .dvc/tmp/rwlock"),
    "rwlock": ("Unable to read RWLock-file '.dvc/tmp/rwlock'", "removed .dvc/tmp/rwlock"),
}


@pytest.mark.parametrize("cut", CUTS)
def test_what_a_killed_dvc_leaves_half_written_is_repaired_before_make_repro_runs(pair, cut):
    reference, _, _ = pair
    refused, repaired_as = CUTS[cut]
    before = kill_runs.files(reference)
    lock = reference / "dvc.lock"
    whole = lock.read_bytes()
    in_git = cut != "dvc.lock, not in git"
    run(["git", "add", "dvc.lock"] if in_git
        else ["git", "rm", "-q", "--cached", "--ignore-unmatch", "dvc.lock"], reference)
    if cut.endswith("rwlock"):
        (reference / ".dvc" / "tmp" / "rwlock").write_text(
            "" if cut.startswith("empty") else '{"read": {"/proj')
    else:
        lock.write_bytes(whole[: whole.index(b"    - path:", len(whole) // 2) + len(b"    - pa")])
    left = lock.read_bytes()
    broken = run(["dvc", "repro"], reference, check=False)
    assert broken.returncode != 0 and refused in broken.stdout + broken.stderr

    # What `make repro` runs before `dvc repro`: one line, saying what it did.
    repair = run(REPAIR, reference)
    assert repair.stderr.count("\n") == 1 and repaired_as in repair.stderr, repair.stderr
    assert lock.exists() == in_git  # restored from git, or removed
    if cut == "dvc.lock, not in git":  # git has no copy to tell a cut from a hand edit
        assert (reference / REFUSED).read_bytes() == left
        (reference / REFUSED).unlink()
    repaired = run(["dvc", "repro"], reference)
    assert stages_run(repaired.stdout) == []  # nothing ran again
    # Without a lock every stage is restored from the run-cache, with the same bytes.
    assert len(stages_restored(repaired.stdout)) == (0 if in_git else len(MODEL_NAMES) + 3)
    assert kill_runs.files(reference) == before
    assert lock.read_bytes() == whole
    # Nothing to repair: nothing said, nothing touched.
    assert run(REPAIR, reference).stderr == ""
