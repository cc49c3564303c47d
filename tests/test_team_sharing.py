"""Team sharing end to end: a teammate's clone gets data, models and results without computing.

Real git and the real dvc CLI in temp dirs, on a small generated dataset. One author clone runs
the whole pipeline, tries ``models.cnn.lr=0.05`` as an experiment and shares everything through a
bare git repository and a DVC remote (a local directory). Each test then starts a fresh clone of
that git repository and checks what it gets: pulled from the remote, from an S3-compatible
server, or linked from the cache directory it shares with the author on this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from mnist_pipeline.fetch.dataset import file_md5

from conftest import MODEL_NAMES
from http_server import ScriptedServer
from project import (
    ROOT,
    copy_project,
    create_project,
    repro,
    run,
    set_params,
    stages_restored,
    stages_run,
)
from synthetic import make_splits, write_pickle

pytestmark = pytest.mark.slow

ALL_STAGES = {"fetch", "convert", "evaluate"} | {f"train@{name}" for name in MODEL_NAMES}
RAW = "data/raw/mnist.pkl.gz"
CNN = "models/cnn.safetensors"
HISTORY = "plots/history.csv"
EXPERIMENT = "cnn-lr-0.05"
# What the train stage logs once per epoch it actually trains (train.epochs is 1 here).
TRAINED = "epoch 1/1"
LOSS_OF = {"Training loss per epoch": "train_loss", "Validation loss per epoch": "valid_loss"}


@dataclass(frozen=True)
class Team:
    origin: Path  # the bare git repository everyone clones and pushes to
    remote: Path  # the DVC remote: a directory
    cache: Path  # the author's cache directory, which clones on this machine may share
    author: Path  # the clone that ran the pipeline
    dataset: Path  # the file the HTTP server served
    data_url: str  # params' data.url; nothing answers there once the author has fetched
    downloads: list[str]  # every path the HTTP server was asked for
    experiment_ref: str  # git ref of the author's experiment
    pushed: frozenset[str]  # the objects on the remote before the experiment was pushed


@pytest.fixture(scope="module")
def team(tmp_path_factory) -> Team:
    root = tmp_path_factory.mktemp("team")
    dataset = write_pickle(make_splits(600, 200, 200), root / "mnist.pkl.gz")
    origin = root / "origin.git"
    run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], root)

    server = ScriptedServer().start()
    try:
        data_url = server.serve("mnist.pkl.gz", dataset.read_bytes())
        author = create_project(root / "author", data_url, dataset)
        # The author's cache lives outside the clone so that other clones here can share it.
        share_cache(author, root / "cache", "symlink")
        assert set(repro(author)) == ALL_STAGES
    finally:
        # From here on the dataset URL is dead: every clone must get the data through DVC.
        server.stop()

    commit(author, "results")
    run(["dvc", "remote", "add", "-d", "team", str(root / "remote")], author)
    commit(author, "team remote")
    run(["git", "remote", "add", "origin", str(origin)], author)
    run(["git", "push", "-q", "-u", "origin", "main"], author)

    # A setting tried without committing it to main: a run-cache entry and an experiment ref.
    tried = run(["dvc", "exp", "run", "--temp", "-n", EXPERIMENT, "-S", "models.cnn.lr=0.05"],
                author)
    assert sorted(stages_run(tried.stdout)) == ["evaluate", "train@cnn"]
    refs = run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], author).stdout.split()
    (experiment_ref,) = [ref for ref in refs if ref.endswith("/" + EXPERIMENT)]

    run(["dvc", "push", "--run-cache"], author)
    pushed = frozenset(objects(root / "remote"))
    run(["dvc", "exp", "push", "origin", EXPERIMENT], author)
    return Team(origin, root / "remote", root / "cache", author, dataset, data_url,
                list(server.requests), experiment_ref, pushed)


def commit(project: Path, message: str) -> None:
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", message], project)


def git_clone(team: Team, dest: Path) -> Path:
    run(["git", "clone", "-q", str(team.origin), str(dest)], dest.parent)
    return dest


def share_cache(project: Path, cache: Path, link_type: str) -> None:
    """Use ``cache`` as this clone's cache, in its git-ignored local config."""
    run(["dvc", "cache", "dir", "--local", str(cache)], project)
    run(["dvc", "config", "--local", "cache.shared", "group"], project)
    run(["dvc", "config", "--local", "cache.type", link_type], project)


def status(project: Path) -> dict:
    """``dvc status --json``: the stages that are out of date, and why; {} when none is."""
    return json.loads(run(["dvc", "status", "--json"], project).stdout)


def model_bytes(project: Path) -> dict[str, bytes]:
    return {name: (project / "models" / f"{name}.safetensors").read_bytes()
            for name in MODEL_NAMES}


def cache_file(store: Path, md5: str) -> Path:
    """Where a cache directory, or a DVC remote (same layout), keeps the object ``md5``."""
    return store / "files" / "md5" / md5[:2] / md5[2:]


def objects(store: Path) -> set[str]:
    """The md5 of every object in a cache directory or DVC remote."""
    return {path.parent.name + path.name for path in (store / "files" / "md5").glob("*/*")}


def run_records(store: Path) -> set[str]:
    runs = store / "runs"
    return {str(path.relative_to(runs)) for path in runs.rglob("*") if path.is_file()}


def locked_md5(lock: dict, stage: str, path: str) -> str:
    (md5,) = [out["md5"] for out in lock["stages"][stage]["outs"] if out["path"] == path]
    return md5


def experiment_lock(team: Team) -> dict:
    return yaml.safe_load(run(["git", "show", f"{team.experiment_ref}:dvc.lock"],
                              team.author).stdout)


def experiment_file(team: Team, path: str) -> str:
    return run(["git", "show", f"{team.experiment_ref}:{path}"], team.author).stdout


@pytest.mark.parametrize("get", [["pull", "--run-cache"], ["repro", "--pull"]], ids=" ".join)
def test_a_fresh_clone_pulls_everything_and_reproduces_nothing(team, tmp_path, get):
    clone = git_clone(team, tmp_path / "teammate")
    result = run(["dvc", *get], clone)
    assert stages_run(result.stdout) == []
    assert status(clone) == {}
    assert repro(clone) == []
    assert model_bytes(clone) == model_bytes(team.author)
    assert (clone / RAW).read_bytes() == team.dataset.read_bytes()
    # The run records travel too: the clone knows every stage run the author made.
    assert run_records(clone / ".dvc" / "cache") == run_records(team.cache)
    assert run_records(team.cache)


def test_older_commits_curves_come_with_the_fetch_docs_sharing_md_gives(team, tmp_path):
    def missing_and_drawn(project: Path) -> tuple[set[str], dict]:
        shown = json.loads(run(["dvc", "plots", "diff", "HEAD~1", "--json"], project).stdout)
        drawn = {name: sorted((row["rev"], row["step"], row[LOSS_OF[name]])
                              for render in renders if render["type"] == "vega"
                              for row in render["content"]["data"]["values"])
                 for name, renders in shown["data"].items() if name in LOSS_OF}
        return {error["source"] for error in shown.get("errors") or []}, drawn

    clone = git_clone(team, tmp_path / "teammate")
    missing, _ = missing_and_drawn(clone)
    assert {f"live/{name}/plots/metrics/train_loss.tsv" for name in MODEL_NAMES} <= missing
    run(["dvc", "fetch", "--all-commits", "--type", "plots"], clone)
    missing, drawn = missing_and_drawn(clone)
    assert not {source for source in missing if source.startswith("live/")}
    assert drawn == missing_and_drawn(team.author)[1] and len(drawn) == 2
    assert {rev for rows in drawn.values() for rev, _, _ in rows} == {"HEAD~1", "workspace"}


def test_run_cache_restores_a_run_from_a_cache_shared_on_one_machine(team, tmp_path):
    clone = git_clone(team, tmp_path / "teammate")
    share_cache(clone, team.cache, "symlink")
    run(["dvc", "checkout"], clone)
    set_params(clone, {"models.cnn.lr": 0.05})
    result = run(["dvc", "repro"], clone)
    assert stages_run(result.stdout) == []
    assert sorted(stages_restored(result.stdout)) == ["evaluate", "train@cnn"]
    assert TRAINED not in result.stdout + result.stderr
    # The author's experiment made exactly these outputs.
    assert file_md5(clone / CNN) == locked_md5(experiment_lock(team), "train@cnn", CNN)
    assert (clone / "metrics/cnn.json").read_text() == experiment_file(team, "metrics/cnn.json")


def test_an_experiment_pushed_by_the_author_applies_without_training(team, tmp_path):
    clone = git_clone(team, tmp_path / "teammate")
    run(["dvc", "exp", "pull", "origin", EXPERIMENT], clone)
    run(["dvc", "exp", "apply", EXPERIMENT], clone)
    assert yaml.safe_load((clone / "params.yaml").read_text())["models"]["cnn"]["lr"] == 0.05
    assert status(clone) == {}
    result = run(["dvc", "repro"], clone)
    assert stages_run(result.stdout) == []
    assert TRAINED not in result.stdout + result.stderr
    assert file_md5(clone / CNN) == locked_md5(experiment_lock(team), "train@cnn", CNN)


def test_run_cache_restores_training_through_a_remote(team, tmp_path):
    lock = experiment_lock(team)
    # `dvc push --run-cache` uploaded the run records and the workspace's data, but not the
    # data of the run the experiment made; `dvc exp push` (or a push from the commit that ran
    # it) uploads that run's model.
    head = yaml.safe_load((team.author / "dvc.lock").read_text())
    assert locked_md5(head, "train@cnn", CNN) in team.pushed
    assert locked_md5(lock, "train@cnn", CNN) not in team.pushed
    assert cache_file(team.remote, locked_md5(lock, "train@cnn", CNN)).is_file()

    clone = git_clone(team, tmp_path / "teammate")
    run(["dvc", "pull", "--run-cache"], clone)
    set_params(clone, {"models.cnn.lr": 0.05})
    result = run(["dvc", "repro", "--pull"], clone)
    # Every output of train@cnn (the model, its live view) is cached and on the remote: the run
    # is restored, not repeated. evaluate's outputs are `cache: false` (they live in git,
    # not on remotes), so it runs again, on the restored model, and writes the author's results
    # byte for byte.
    assert stages_restored(result.stdout) == ["train@cnn"]
    assert stages_run(result.stdout) == ["evaluate"]
    assert TRAINED not in result.stdout + result.stderr
    assert file_md5(clone / CNN) == locked_md5(lock, "train@cnn", CNN)
    assert (file_md5(clone / "live/cnn/metrics.json")
            == locked_md5(lock, "train@cnn", "live/cnn/metrics.json"))
    assert len((clone / "live/cnn/plots/metrics/valid_loss.tsv").read_text().splitlines()) == 2
    for path in ("metrics/cnn.json", HISTORY):
        assert (clone / path).read_text() == experiment_file(team, path)


def test_a_registered_model_version_is_got_by_name_from_the_repository(team, tmp_path):
    # A version, as GTO registers one: an annotated tag <name>@vX.Y.Z on the commit. Another
    # project (any folder) then gets the model by its name from the repository's DVC remote.
    run(["git", "tag", "-a", "cnn@v0.1.0", "-m", "Registering artifact cnn version 0.1.0"],
        team.author)
    run(["git", "push", "-q", "origin", "cnn@v0.1.0"], team.author)
    elsewhere = tmp_path / "another-project"
    elsewhere.mkdir()
    run(["dvc", "artifacts", "get", str(team.origin), "cnn", "-o", "cnn.safetensors"], elsewhere)
    assert (elsewhere / "cnn.safetensors").read_bytes() == (team.author / CNN).read_bytes()
    unregistered = run(["dvc", "artifacts", "get", str(team.origin), "scratch"], elsewhere,
                       check=False)
    assert unregistered.returncode != 0
    assert "Unable to find artifact" in unregistered.stdout + unregistered.stderr


def test_retraining_one_model_alone_changes_nothing_anyone_sees(team, tmp_path):
    # The train stage writes only its own outputs: retrained with the same params, the same
    # bytes, and git, DVC and a teammate's fresh clone all see the commit as it was.
    clone = git_clone(team, tmp_path / "retrainer")
    run(["dvc", "pull"], clone)
    before = model_bytes(clone)
    ran = run(["dvc", "repro", "--force", "--single-item", "train@logistic"], clone)
    assert stages_run(ran.stdout) == ["train@logistic"]
    assert model_bytes(clone) == before
    assert run(["git", "status", "--porcelain"], clone).stdout == ""
    assert status(clone) == {}
    # What a teammate gets of that commit (the retrainer's is the same): nothing to run.
    teammate = git_clone(team, tmp_path / "teammate")
    run(["dvc", "pull"], teammate)
    assert repro(teammate) == []
    assert status(teammate) == {}


@pytest.mark.parametrize("link_type", ["symlink", "hardlink"])
def test_clones_on_one_machine_share_one_cache_without_a_remote(team, tmp_path, link_type):
    clone = git_clone(team, tmp_path / "teammate")
    share_cache(clone, team.cache, link_type)
    # An empty remote: whatever the clone gets must come from the shared cache.
    run(["dvc", "remote", "modify", "--local", "team", "url", str(tmp_path / "empty")], clone)
    run(["dvc", "pull"], clone)
    assert status(clone) == {}
    assert repro(clone) == []

    model = clone / CNN
    lock = yaml.safe_load((clone / "dvc.lock").read_text())
    cached = cache_file(team.cache, locked_md5(lock, "train@cnn", CNN))
    if link_type == "symlink":
        assert os.path.islink(model) and Path(os.readlink(model)) == cached
    else:
        assert not os.path.islink(model) and model.stat().st_ino == cached.stat().st_ino
    # Linked files are read-only, so an edit in place cannot corrupt the cache.
    assert stat.S_IMODE(model.stat().st_mode) & 0o222 == 0
    assert model.read_bytes() == (team.author / CNN).read_bytes()
    # Nothing was copied into the clone.
    assert not (clone / ".dvc" / "cache").exists()
    # cache.shared group: directories group-writable and setgid, so the group can add to them.
    assert stat.S_IMODE(cached.parent.stat().st_mode) & 0o2070 == 0o2070


def test_a_fresh_clone_on_a_shared_cache_that_lacks_the_data_pulls_it(team, tmp_path):
    # docs/sharing.md: on a cache that does not hold the commit's data, `dvc checkout` leaves
    # links to nothing (and says nothing of it); `dvc pull` fills the cache and links them.
    clone = git_clone(team, tmp_path / "clone")
    share_cache(clone, tmp_path / "cache", "symlink")
    run(["dvc", "checkout"], clone)
    assert os.path.islink(clone / CNN) and not (clone / CNN).exists()
    assert run(["dvc", "status"], clone, check=False).returncode != 0
    run(["dvc", "pull"], clone)
    assert status(clone) == {}
    assert (clone / CNN).read_bytes() == (team.author / CNN).read_bytes()


def test_gc_in_one_clone_deletes_what_another_clone_of_the_shared_cache_uses(team, tmp_path):
    cache = tmp_path / "cache"
    first = git_clone(team, tmp_path / "first")
    share_cache(first, cache, "symlink")
    run(["dvc", "pull"], first)
    second = git_clone(team, tmp_path / "second")
    share_cache(second, cache, "symlink")
    run(["dvc", "exp", "pull", "origin", EXPERIMENT], second)
    run(["dvc", "exp", "apply", EXPERIMENT], second)
    model = second / CNN
    assert model.is_file()

    # Told about the other clone, gc keeps what that clone's workspace uses...
    run(["dvc", "gc", "--workspace", "--projects", str(second), "--force"], first)
    assert model.is_file()
    # ...not told, it deletes it: the other clone's link now points at nothing.
    run(["dvc", "gc", "--workspace", "--force"], first)
    assert os.path.islink(model) and not model.exists()
    # The remote still has it, so a pull repairs the clone.
    run(["dvc", "pull"], second)
    assert file_md5(model) == locked_md5(experiment_lock(team), "train@cnn", CNN)


def test_s3_compatible_remote(team, tmp_path, monkeypatch):
    moto_server = pytest.importorskip(
        "moto.server", reason="the S3 test needs moto[server]: pip install -e '.[test]'")
    pytest.importorskip("dvc_s3", reason="the S3 test needs dvc[s3]: pip install -e '.[test]'")
    import boto3

    # Dummy credentials for the local server; no AWS config file or instance metadata is read.
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        # A proxy configured for the outside world must not intercept the local server.
        "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1",
    }.items():
        monkeypatch.setenv(name, value)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="team-data")

        uploader = git_clone(team, tmp_path / "uploader")
        run(["dvc", "pull"], uploader)
        run(["dvc", "remote", "add", "-d", "s3remote", "s3://team-data/mnist-pipeline"], uploader)
        run(["dvc", "remote", "modify", "s3remote", "endpointurl", endpoint], uploader)
        commit(uploader, "S3 remote")
        run(["dvc", "push", "--run-cache"], uploader)
        listed = s3.list_objects_v2(Bucket="team-data", Prefix="mnist-pipeline/")
        keys = {item["Key"] for item in listed.get("Contents", [])}
        md5 = file_md5(uploader / CNN)
        assert f"mnist-pipeline/files/md5/{md5[:2]}/{md5[2:]}" in keys

        teammate = tmp_path / "teammate"
        run(["git", "clone", "-q", str(uploader), str(teammate)], tmp_path)
        run(["dvc", "pull", "--run-cache"], teammate)
        assert status(teammate) == {}
        assert repro(teammate) == []
        assert model_bytes(teammate) == model_bytes(team.author)
    finally:
        server.stop()


def test_an_offline_clone_pulls_the_dataset_and_runs_the_rest(team, tmp_path):
    # Nothing answers at data.url any more (the author's fetch was its only download)...
    assert team.downloads == ["/mnist.pkl.gz"]
    with pytest.raises(OSError):
        urllib.request.urlopen(team.data_url, timeout=5)
    # ...yet the fetch stage's output is in the remote like any other.
    clone = git_clone(team, tmp_path / "teammate")
    run(["dvc", "pull", RAW], clone)
    assert (clone / RAW).read_bytes() == team.dataset.read_bytes()
    assert not (clone / "data" / "tensors").exists()

    # Recomputed from the pulled dataset, the model is byte-identical to the author's.
    assert repro(clone, "train@logistic") == ["convert", "train@logistic"]
    assert (clone / "models/logistic.safetensors").read_bytes() == \
        (team.author / "models/logistic.safetensors").read_bytes()
    assert not {"fetch", "convert", "train@logistic"} & set(status(clone))
    # The epoch history and dvc.lock come out exactly as the author committed them.
    assert run(["git", "status", "--porcelain"], clone).stdout == ""


def test_a_remote_added_later_gets_older_commits_runs_in_a_clone_with_history(tmp_path):
    """docs/sharing.md, "when the remote came later", step by step in a clone of this
    repository's own history, whose first commit has a `dvc.yaml` DVC 3 rejects.

    `dvc push --all-commits` reads each commit's own `.dvc/config`, and skips the commits made
    before the remote was added without a word; a remote declared in the local config as well
    covers them, but a push after one that uploaded nothing reuses DVC's saved push index and
    still uploads nothing, unless DVC starts from an empty site cache directory.
    """
    shallow = run(["git", "rev-parse", "--is-shallow-repository"], ROOT, check=False)
    if shallow.returncode != 0 or shallow.stdout.strip() != "false":
        pytest.skip("needs the project's git repository with its full history")
    dataset = write_pickle(make_splits(600, 200, 200), tmp_path / "mnist.pkl.gz")
    author = tmp_path / "author"
    run(["git", "clone", "-q", str(ROOT), str(author)], tmp_path)
    run(["git", "checkout", "-q", "-B", "author"], author)  # a branch, even if ROOT's is detached
    copy_project(author, str(dataset), dataset)  # this tree over the history, on tiny data
    commit(author, "tiny data")
    # Two runs committed before the team had a remote: the first is in the history only.
    assert "train@logistic" in repro(author, "train@logistic")
    commit(author, "logistic at lr 0.5")
    older_model = file_md5(author / "models/logistic.safetensors")
    set_params(author, {"models.logistic.lr": 0.25})
    assert "train@logistic" in repro(author, "train@logistic")
    commit(author, "logistic at lr 0.25")

    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "-d", "team", str(remote)], author)
    commit(author, "team remote")
    run(["dvc", "push", "--run-cache"], author)  # the page's loop: the workspace's data
    pushed = run(["dvc", "push", "--all-commits", "--run-cache"], author)
    first = run(["git", "rev-list", "--max-parents=0", "HEAD"], author).stdout.split()
    assert f"failed to collect '{first[0]}', skipping" in pushed.stderr
    assert older_model not in objects(remote)  # its commit has no remote in .dvc/config
    checked = run(["dvc", "status", "--cloud", "--all-commits"], author, check=False)
    assert checked.returncode == 1 and f"Failed to collect '{first[0]}'" in checked.stderr

    # The fix: the remote declared locally too; a push that reuses the saved index misses it...
    run(["dvc", "remote", "add", "--local", "-d", "team", str(remote)], author)
    run(["dvc", "push", "--all-commits", "--run-cache"], author)
    assert older_model not in objects(remote)
    older_commit = run(["git", "rev-parse", "--short", "HEAD~2"], author).stdout.strip()
    assert commits_not_on_the_remote(author) == [older_commit]
    # ...one that starts from an empty site cache directory collects every commit again.
    site_cache = tmp_path / "site-cache"
    run(["env", f"DVC_SITE_CACHE_DIR={site_cache}", "dvc", "push", "--all-commits",
         "--run-cache"], author)
    assert older_model in objects(remote)
    assert commits_not_on_the_remote(author) == []

    # A teammate at a commit that has the remote gets the older run back without training.
    teammate = tmp_path / "teammate"
    run(["git", "clone", "-q", str(author), str(teammate)], tmp_path)
    set_params(teammate, {"models.logistic.lr": 0.5})
    result = run(["dvc", "repro", "--pull", "train@logistic"], teammate)
    assert stages_restored(result.stdout) == ["train@logistic"]
    assert stages_run(result.stdout) == []
    assert TRAINED not in result.stdout + result.stderr
    assert file_md5(teammate / "models/logistic.safetensors") == older_model


def commits_not_on_the_remote(project: Path) -> list[str]:
    """The page's check: each commit that changed dvc.lock, checked out in turn."""
    branch = run(["git", "branch", "--show-current"], project).stdout.strip()
    revs = run(["git", "log", "--format=%h", "--", "dvc.lock"], project).stdout.split()
    missing = []
    for rev in revs:
        run(["git", "checkout", "-q", rev], project)
        if run(["dvc", "status", "--cloud", "--quiet"], project, check=False).returncode:
            missing.append(rev)
    run(["git", "checkout", "-q", branch], project)
    return missing


def test_a_sweep_split_across_two_machines_is_seen_whole_by_a_teammate(team, tmp_path):
    """Two machines (clones) share one git remote and one DVC remote: each queues and runs its
    share of a sweep, then pushes its experiments; a teammate pulls them all and compares."""
    origin = tmp_path / "origin.git"
    run(["git", "clone", "-q", "--bare", str(team.origin), str(origin)], tmp_path)
    remote = tmp_path / "remote"
    shutil.copytree(team.remote, remote)

    def machine(name: str) -> Path:
        clone = tmp_path / name
        run(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
        run(["dvc", "remote", "modify", "--local", "team", "url", str(remote)], clone)
        run(["dvc", "pull"], clone)
        return clone

    sweep = {"first": ["0.1"], "second": ["0.3"]}  # the sweep 0.1,0.3 split across two
    for name, values in sweep.items():
        clone = machine(name)
        run(["dvc", "exp", "run", "--queue", "-S", f"models.logistic.lr={','.join(values)}"],
            clone)
        ran = run(["dvc", "exp", "run", "--run-all"], clone)
        assert ran.stdout.count("Running stage 'train@logistic'") == len(values), ran.stdout
        run(["dvc", "exp", "push", "origin", "--all-commits"], clone)

    teammate = machine("teammate")
    run(["dvc", "exp", "pull", "origin", "--all-commits"], teammate)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], teammate).stdout)
    tried = {}
    for baseline in shown:
        for experiment in baseline.get("experiments") or []:
            data = experiment["revs"][0]["data"]
            lr = data["params"]["params.yaml"]["data"]["models"]["logistic"]["lr"]
            tried[lr] = data["metrics"]["metrics/logistic.json"]["data"]["valid"]["loss"]
    assert sorted(tried) == [0.1, 0.3]
    assert len(set(tried.values())) == 2  # two runs, two results
    # Their models came with them: applying one needs no training.
    name = next(experiment["name"] for baseline in shown
                for experiment in baseline.get("experiments") or [])
    run(["dvc", "exp", "apply", name], teammate)
    assert repro(teammate) == []
