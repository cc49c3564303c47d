"""make repro's repair of what a killed dvc leaves half-written: never while a dvc is at work.
(The repairs themselves, on real dvc projects: tests/test_kills_e2e.py.)"""

import subprocess

import zc.lockfile

from mnist_pipeline.core.dvc_repair import dvc_at_work, repair


def project_with_empty_rwlock(tmp_path):
    (tmp_path / ".dvc" / "tmp").mkdir(parents=True)
    rwlock = tmp_path / ".dvc" / "tmp" / "rwlock"
    rwlock.write_text("")  # what a kill inside DVC's rewrite leaves
    return rwlock


def test_a_dvc_holding_the_repository_lock_is_left_alone(tmp_path):
    rwlock = project_with_empty_rwlock(tmp_path)
    held = zc.lockfile.LockFile(str(rwlock.with_name("lock")))
    try:
        assert dvc_at_work(tmp_path) and repair(tmp_path) == []
    finally:
        held.close()
    assert rwlock.exists()


def test_a_dvc_running_a_stage_without_the_lock_is_left_alone(tmp_path):
    # dvc lets its repository lock go while a stage's command runs: the process is seen.
    rwlock = project_with_empty_rwlock(tmp_path)
    dvc = tmp_path / "bin" / "dvc"
    dvc.parent.mkdir()
    dvc.symlink_to("/bin/sleep")
    running = subprocess.Popen([str(dvc), "30"], cwd=tmp_path / ".dvc")
    try:
        assert dvc_at_work(tmp_path) and repair(tmp_path) == []
    finally:
        running.kill()
        running.wait()
    assert rwlock.exists()
    assert not dvc_at_work(tmp_path)


def test_with_no_dvc_at_work_an_empty_rwlock_is_removed(tmp_path):
    rwlock = project_with_empty_rwlock(tmp_path)
    assert repair(tmp_path)[0] == "removed .dvc/tmp/rwlock, cut short by a killed dvc"
    assert not rwlock.exists()
