"""make repro's repair of what a killed dvc leaves half-written (tools/dvc_repair.py): it decides
from the files, leaves a lock DVC can use alone, says in one line what it did or why it did not,
and deletes nothing when git fails. (On real five-model projects: tests/test_kills_e2e.py and
tests/test_lock_cuts_e2e.py.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import zc.lockfile
from dvc_repair import REFUSED, dvc_at_work, lock_problem, repair

from project import REPAIR, run

LOCK = b"""schema: '2.0'
stages:
  copy:
    cmd: cp a.txt b.txt
    deps:
    - path: a.txt
      hash: md5
      md5: 764efa883dda1e11db47671c4a3bbd9e
      size: 3
    params:
      params.yaml:
        lr: 0.1
    outs:
    - path: b.txt
      hash: md5
      md5: 764efa883dda1e11db47671c4a3bbd9e
      size: 3
"""
# The three ways DVC 3.67 refuses a cut lock: a key cut before its colon (a YAML error), a stage
# cut down to its name (the schema), a hash name cut short (NotImplementedError in dvc status).
KEY_CUT, STAGE_CUT = LOCK[:20], LOCK[:LOCK.index(b"copy:") + 5]
HASH_CUT = LOCK[:LOCK.index(b"hash: md5") + 7]
# Two DVC reads, but then reruns the stage (it looks for this md5 in its cache, not the
# run-cache), or keeps a lock without the output's size.
MD5_CUT = LOCK[:LOCK.rindex(b"md5: ") + 15]
SIZE_CUT = LOCK[:LOCK.rindex(b"      size:")]


def test_dvc_s_loader_and_hash_names_tell_the_three_cuts_from_a_usable_lock():
    assert KEY_CUT == b"schema: '2.0'\nstages"
    assert lock_problem(KEY_CUT) == "is not valid YAML"
    assert lock_problem(STAGE_CUT) == "is not in DVC's lock file schema"
    assert lock_problem(HASH_CUT) == "names a hash DVC cannot compute, 'm', in stage copy"
    assert lock_problem(LOCK.replace(b"hash: md5", b"hash: sha256")) is None  # one it can
    assert lock_problem(b"") == "is not in DVC's lock file schema"
    assert lock_problem(LOCK) is None
    assert lock_problem(LOCK.replace(b"      hash: md5\n", b"")) is None  # as DVC 2.x wrote


def test_a_lock_cut_mid_line_or_before_a_size_is_one_dvc_never_writes():
    assert lock_problem(MD5_CUT) == (
        "lacks the size DVC writes with an md5, for b.txt, in stage copy")
    assert lock_problem(MD5_CUT + b"\n      size: 3") == "ends mid-line"
    assert lock_problem(SIZE_CUT) == lock_problem(MD5_CUT)
    folder = LOCK.replace(b"md5: 764efa883dda1e11db47671c4a3bbd9e\n      size: 3\n",
                          b"md5: 764efa883dda1e11db47671c4a3bbd9e.dir\n      size: 3\n")
    assert lock_problem(folder) == (
        "lacks the nfiles DVC writes with an md5, for a.txt, in stage copy")
    # Cut between two lines, a lock DVC reads (as "changed"): the run-cache restores the stage.
    assert lock_problem(LOCK[:LOCK.index(b"    outs:")]) is None


def git_project(tmp_path: Path, lock: bytes = LOCK, in_git: bool = True) -> Path:
    """A git repository holding ``lock`` as dvc.lock (staged and committed, or untracked)."""
    (tmp_path / "dvc.lock").write_bytes(lock)
    run(["git", "init", "-q"], tmp_path)
    if in_git:
        run(["git", "add", "dvc.lock"], tmp_path)
    run(["git", "commit", "-q", "--allow-empty", "-m", "lock"], tmp_path)
    return tmp_path


def repair_cli(project: Path) -> subprocess.CompletedProcess:
    """What ``make repro`` runs first."""
    return subprocess.run(REPAIR, cwd=project, capture_output=True, text=True)


@pytest.mark.parametrize("cut", [KEY_CUT, STAGE_CUT, HASH_CUT, MD5_CUT, SIZE_CUT, b""],
                         ids=["key", "stage", "hash", "md5", "size", "empty"])
def test_a_cut_of_git_s_copy_is_replaced_by_it_in_one_line(tmp_path, cut):
    project = git_project(tmp_path)
    (project / "dvc.lock").write_bytes(cut)
    done = repair_cli(project)
    assert done.returncode == 0 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("repaired: dvc.lock was cut short by a killed dvc (it ")
    assert "took git's staged copy; finished stages come back from the run-cache" in done.stderr
    assert (project / "dvc.lock").read_bytes() == LOCK
    assert not (project / REFUSED).exists()  # nothing of it is lost: git has all of it
    assert repair_cli(project).stderr == ""  # nothing to repair: nothing said


def test_where_git_has_no_lock_a_cut_one_is_removed_and_kept_aside(tmp_path):
    project = git_project(tmp_path, in_git=False)
    (project / "dvc.lock").write_bytes(STAGE_CUT)
    assert repair(project) == [
        "repaired: dvc.lock is not in DVC's lock file schema and is no part of git's staged "
        "copy: cut short by a killed dvc, or edited by hand: removed it (git has none), and kept "
        f"it as it was in {REFUSED} (hand edits, if any); finished stages come back from the "
        "run-cache"]
    assert not (project / "dvc.lock").exists()
    assert (project / REFUSED).read_bytes() == STAGE_CUT


def test_where_git_s_copy_is_cut_too_the_lock_is_removed(tmp_path):
    project = git_project(tmp_path, lock=STAGE_CUT)  # staged by hand after a kill, say
    assert repair(project) == [
        "repaired: dvc.lock was cut short by a killed dvc (it is not in DVC's lock file schema): "
        "removed it (git's staged copy is not in DVC's lock file schema too); finished stages "
        "come back from the run-cache"]
    assert not (project / "dvc.lock").exists() and not (project / REFUSED).exists()


def test_a_lock_edited_by_hand_into_one_dvc_refuses_is_named_so_and_kept(tmp_path):
    project = git_project(tmp_path)
    edited = LOCK.replace(b"cmd: cp a.txt b.txt", b"cmd: [cp a.txt b.txt")  # no prefix of git's
    (project / "dvc.lock").write_bytes(edited)
    [said] = repair(project)
    assert said.startswith("repaired: dvc.lock is not valid YAML and is no part of git's "
                           "staged copy: cut short by a killed dvc, or edited by hand: took "
                           f"git's staged copy, and kept it as it was in {REFUSED} (hand "
                           "edits, if any)")
    assert (project / "dvc.lock").read_bytes() == LOCK
    assert (project / REFUSED).read_bytes() == edited


def test_a_hand_edited_lock_is_never_replaced_before_its_copy_is_written(tmp_path,
                                                                          monkeypatch):
    project = git_project(tmp_path)
    edited = LOCK.replace(b"cmd: cp a.txt b.txt", b"cmd: [cp a.txt b.txt")
    (project / "dvc.lock").write_bytes(edited)
    write_bytes = Path.write_bytes

    def disk_full(path, data):
        if path.name == REFUSED:
            raise OSError(28, "No space left on device")
        return write_bytes(path, data)

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    with pytest.raises(OSError, match="No space left on device"):
        repair(project)
    assert (project / "dvc.lock").read_bytes() == edited


def test_a_git_failure_is_said_in_one_line_and_deletes_nothing(tmp_path):
    project = git_project(tmp_path)
    (project / "dvc.lock").write_bytes(KEY_CUT)
    (project / ".git" / "index.lock").touch()  # what a kill inside DVC's autostage can leave
    done = repair_cli(project)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("not repaired: dvc.lock was cut short by a killed dvc (it is "
                                  "not valid YAML); left as it is: git checkout -- dvc.lock "
                                  "failed: fatal: Unable to create ")
    assert "index.lock': File exists." in done.stderr
    assert (project / "dvc.lock").read_bytes() == KEY_CUT
    assert not (project / REFUSED).exists()


def test_outside_git_a_refused_lock_is_left_as_it_is(tmp_path):
    (tmp_path / "dvc.lock").write_bytes(KEY_CUT)
    done = repair_cli(tmp_path)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("not repaired: dvc.lock is not valid YAML; left as it is: "
                                  "git ls-files --stage -z -- dvc.lock failed: fatal: not a git "
                                  "repository")
    assert (tmp_path / "dvc.lock").read_bytes() == KEY_CUT


def project_with_rwlock(tmp_path: Path, text: str = "") -> Path:
    (tmp_path / ".dvc" / "tmp").mkdir(parents=True)
    rwlock = tmp_path / ".dvc" / "tmp" / "rwlock"
    rwlock.write_text(text)  # "": what a kill inside DVC's rewrite leaves most often
    return rwlock


@pytest.mark.parametrize("text", ["", '{"read": {"/proj'], ids=["empty", "cut"])
def test_with_no_dvc_at_work_a_cut_rwlock_is_removed(tmp_path, text):
    rwlock = project_with_rwlock(tmp_path, text)
    assert repair(tmp_path) == [
        "repaired: removed .dvc/tmp/rwlock (not JSON), cut short by a killed dvc"]
    assert not rwlock.exists()


def test_a_whole_rwlock_is_left_alone(tmp_path):
    rwlock = project_with_rwlock(tmp_path, '{"read": {}, "write": {}}')
    assert repair(tmp_path) == [] and rwlock.exists()


def test_a_dvc_holding_the_repository_lock_is_left_alone_and_said_so_in_one_line(tmp_path):
    rwlock = project_with_rwlock(tmp_path)
    held = zc.lockfile.LockFile(str(rwlock.with_name("lock")))
    try:
        done = repair_cli(tmp_path)
    finally:
        held.close()
    assert done.returncode == 0 and done.stderr == (
        "checked nothing: a dvc is at work in this project: DVC's repository lock "
        "(.dvc/tmp/lock) is held\n")
    assert rwlock.exists()


def console_script(folder: Path, name: str) -> Path:
    """An executable as pip installs a console script: a ``#!`` line naming this Python, then
    (instead of dvc's entry point) a long sleep."""
    script = folder / name
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(60)\n")
    script.chmod(0o755)
    return script


@pytest.mark.parametrize("how", ["console script", "python -m dvc"])
def test_a_dvc_running_a_stage_without_the_repository_lock_is_seen_and_left_alone(tmp_path, how):
    # dvc lets its repository lock go while a stage's command runs: the process is looked for,
    # and its command line is [python, .../bin/dvc, repro], as the kernel runs a console script.
    rwlock = project_with_rwlock(tmp_path)
    if how == "console script":
        command = [str(console_script(tmp_path / "bin", "dvc")), "repro"]
        seen = [sys.executable, *command]
    else:  # a module named dvc, found first in the folder it runs in
        (tmp_path / ".dvc" / "dvc.py").write_text("import time\ntime.sleep(60)\n")
        command = seen = [sys.executable, "-m", "dvc", "repro"]
    running = subprocess.Popen(command, cwd=tmp_path / ".dvc")
    try:
        busy = dvc_at_work(tmp_path)
        said = repair(tmp_path)
    finally:
        running.kill()
        running.wait()
    assert busy == f"pid {running.pid} runs {' '.join(seen)}"
    assert said == [f"checked nothing: a dvc is at work in this project: {busy}"]
    assert rwlock.exists()
    assert dvc_at_work(tmp_path) is None


def test_another_program_running_in_the_project_is_no_dvc(tmp_path):
    project_with_rwlock(tmp_path)
    other = subprocess.Popen([str(console_script(tmp_path / "bin", "dvclive")), "dvc"],
                             cwd=tmp_path)
    try:
        assert dvc_at_work(tmp_path) is None
    finally:
        other.kill()
        other.wait()


@pytest.fixture(scope="module")
def dvc_project(tmp_path_factory) -> Path:
    """A real one-stage dvc project, run and committed."""
    project = tmp_path_factory.mktemp("dvc") / "project"
    project.mkdir()
    (project / "a.txt").write_text("hi\n")
    (project / "params.yaml").write_text("lr: 0.1\n")
    (project / "dvc.yaml").write_text("stages:\n  copy:\n    cmd: cp a.txt b.txt\n"
                                      "    deps: [a.txt]\n    params: [lr]\n    outs: [b.txt]\n")
    run(["git", "init", "-q"], project)
    run(["dvc", "init", "-q"], project)
    run(["dvc", "repro", "-q"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", "run"], project)
    assert (project / "dvc.lock").read_bytes() == LOCK
    return project


@pytest.mark.slow
@pytest.mark.parametrize("breakage", ["params.yaml typo", "dependency missing"])
def test_a_lock_dvc_reads_is_never_touched_whatever_else_fails(dvc_project, tmp_path, breakage):
    project = Path(shutil.copytree(dvc_project, tmp_path / "project", symlinks=True))
    # A lock DVC reads, other than git's: a repair that decided from dvc's failure would restore
    # git's copy over it.
    mine = LOCK.replace(b"lr: 0.1", b"lr: 0.3")
    (project / "dvc.lock").write_bytes(mine)
    if breakage == "params.yaml typo":
        (project / "params.yaml").write_text("lr: [0.1\n")
        failing = ["dvc", "status"]
    else:
        os.remove(project / "a.txt")
        failing = ["dvc", "repro"]
    assert run(failing, project, check=False).returncode != 0
    assert repair_cli(project).stderr == ""
    assert (project / "dvc.lock").read_bytes() == mine
    assert not (project / REFUSED).exists()
