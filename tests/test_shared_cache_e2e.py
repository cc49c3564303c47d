"""A team's shared cache under concurrency: two clones on one cache (`cache.shared group`,
`cache.type symlink`) reproducing at the same time, and pushing to one remote at the same time.
Afterwards both workspaces are up to date and every object in the cache and the remote hashes
to its name."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from project import create_project, run, set_params, stages_run
from synthetic import make_splits, write_pickle

pytestmark = pytest.mark.slow


def objects_with_wrong_names(store: Path) -> list[str]:
    """Files of a DVC cache or local remote (``files/md5/ab/cdef...``) whose md5 is not their
    name; a ``.dir`` object's name is the md5 of its listing too."""
    wrong = []
    for path in (store / "files" / "md5").rglob("*"):
        if path.is_file():
            name = path.parent.name + path.name.removesuffix(".dir")
            if hashlib.md5(path.read_bytes()).hexdigest() != name:
                wrong.append(str(path.relative_to(store)))
    return wrong


def at_once(*commands: tuple[list[str], Path]) -> list[subprocess.CompletedProcess]:
    started = [subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True) for args, cwd in commands]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=600), p.communicate()[0], "")
            for p in started]


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    """An origin that ran once on a shared cache, and two clones checked out from it."""
    root = tmp_path_factory.mktemp("team")
    dataset = write_pickle(make_splits(600, 200, 200, seed=8), root / "mnist.pkl.gz")
    origin = create_project(root / "origin", str(dataset), dataset)
    for args in (["dvc", "cache", "dir", str(root / "cache")],
                 ["dvc", "config", "cache.shared", "group"],
                 ["dvc", "config", "cache.type", "symlink"],
                 ["dvc", "remote", "add", "-d", "team", str(root / "remote")]):
        run(args, origin)
    run(["dvc", "repro"], origin)
    run(["git", "add", "-A"], origin)
    run(["git", "commit", "-q", "-m", "first run"], origin)
    clones = []
    for name in ("alice", "bob"):
        run(["git", "clone", "-q", str(origin), str(root / name)], root)
        run(["dvc", "checkout"], root / name)
        clones.append(root / name)
    return root, clones


def test_two_clones_reproduce_at_once_on_one_shared_cache(team):
    root, (alice, bob) = team
    # Both retrain logistic with the same new lr (they race to cache the same run), and
    # scratch each with an lr of their own.
    set_params(alice, {"models.logistic.lr": 0.3, "models.scratch.lr": 0.4})
    set_params(bob, {"models.logistic.lr": 0.3, "models.scratch.lr": 0.3})
    results = at_once((["dvc", "repro"], alice), (["dvc", "repro"], bob))
    for result in results:
        assert result.returncode == 0, result.stdout
    for clone, result in zip((alice, bob), results, strict=True):
        ran = stages_run(result.stdout) + [line for line in result.stdout.splitlines()
                                           if "is cached - skipping run" in line]
        assert any("train@logistic" in line for line in ran), result.stdout
        assert run(["dvc", "status", "--json"], clone).stdout.strip() == "{}"
        assert (clone / "models" / "logistic.safetensors").is_symlink()  # linked from the cache
    assert (alice / "models" / "logistic.safetensors").read_bytes() == \
        (bob / "models" / "logistic.safetensors").read_bytes()
    assert (alice / "models" / "scratch.safetensors").read_bytes() != \
        (bob / "models" / "scratch.safetensors").read_bytes()
    assert objects_with_wrong_names(root / "cache") == []


def test_two_clones_push_to_one_remote_at_once(team):
    root, (alice, bob) = team
    results = at_once((["dvc", "push"], alice), (["dvc", "push"], bob))
    for result in results:
        assert result.returncode == 0, result.stdout
    assert objects_with_wrong_names(root / "remote") == []
    for clone in (alice, bob):  # everything each one needs is there
        status = run(["dvc", "status", "--cloud", "--json"], clone).stdout.strip()
        assert status == "{}", status
