"""Comparing runs: metrics, params and plots across commits, and `dvc exp` experiments."""

import html
import json
import sys

import pytest

from conftest import MODEL_NAMES, ROOT
from project import create_project, repro, run, set_params, stages_run
from synthetic import make_splits, write_pickle

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_commits(tmp_path_factory):
    """A project with two commits that differ only in models.cnn.lr (0.1, then 0.05)."""
    from http_server import ScriptedServer

    data = write_pickle(make_splits(2_000, 300, 300, seed=2),
                        tmp_path_factory.mktemp("data") / "mnist.pkl.gz")
    server = ScriptedServer().start()
    server.serve("mnist.pkl.gz", data.read_bytes())
    project = create_project(tmp_path_factory.mktemp("compare") / "project",
                             server.url("mnist.pkl.gz"), data)
    repro(project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "baseline"], project)
    set_params(project, {"models.cnn.lr": 0.05})
    assert sorted(repro(project)) == ["evaluate", "train@cnn"]
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "cnn lr 0.05"], project)
    yield project
    server.stop()


def dvc_json(project, *args):
    return json.loads(run(["dvc", *args, "--json"], project).stdout)


def test_metrics_show_has_each_number_once_on_one_screen(two_commits):
    shown = dvc_json(two_commits, "metrics", "show")
    files = shown[""]["data"]
    assert set(files) == {path for name in MODEL_NAMES
                          for path in (f"metrics/{name}.json", f"live/{name}/metrics.json")}
    # The training's numbers and the evaluation's are different columns, seven in all: the
    # five models' rows fit one screen.
    columns: dict[str, set[str]] = {"metrics": set(), "live": set()}
    for path, content in files.items():
        data = content["data"]
        if path.startswith("metrics/"):
            assert data.keys() == {"valid", "test"}
            assert data["valid"].keys() == data["test"].keys() == {"loss", "accuracy"}
        else:
            assert data["status"] == "done" and data["step"] == 1
        columns[path.split("/")[0]] |= {f"{key}.{inner}" if isinstance(value, dict) else key
                                        for key, value in data.items()
                                        for inner in (value if isinstance(value, dict) else [0])}
    assert columns == {"metrics": {"valid.loss", "valid.accuracy", "test.loss", "test.accuracy"},
                       "live": {"status", "step", "train_loss"}}
    table = run(["dvc", "metrics", "show", "--md"], two_commits).stdout.splitlines()
    assert max(len(line) for line in table) <= 160, table[0]


def test_metrics_diff_shows_the_cnn_moving_and_nothing_else(two_commits):
    diff = dvc_json(two_commits, "metrics", "diff", "HEAD~1")
    assert set(diff) == {"metrics/cnn.json", "live/cnn/metrics.json"}
    changed = diff["metrics/cnn.json"]
    assert {"valid.loss", "test.loss"} <= set(changed)
    assert changed["valid.loss"]["old"] != changed["valid.loss"]["new"]
    # Every headline number, from git alone (the cache may not hold HEAD~1's live files).
    every = dvc_json(two_commits, "metrics", "diff", "HEAD~1", "--all")["metrics/cnn.json"]
    assert set(every) == {"valid.loss", "valid.accuracy", "test.loss", "test.accuracy"}
    assert all(value["old"] is not None for value in every.values())


def test_the_readmes_diff_commands_compare_what_they_say(two_commits):
    # `dvc params diff && dvc metrics diff`: the workspace against the last commit (nothing
    # changed since); `dvc metrics diff HEAD~1 HEAD`: what the last commit changed.
    assert dvc_json(two_commits, "params", "diff") == {}
    assert dvc_json(two_commits, "metrics", "diff") == {}
    last = dvc_json(two_commits, "metrics", "diff", "HEAD~1", "HEAD")
    assert set(last) == {"metrics/cnn.json", "live/cnn/metrics.json"}
    changed = last["metrics/cnn.json"]["test.loss"]
    assert changed["old"] != changed["new"]


def test_params_diff_reports_exactly_the_changed_key(two_commits):
    assert dvc_json(two_commits, "params", "diff", "HEAD~1") == {
        "params.yaml": {"models.cnn.lr": {"old": 0.1, "new": 0.05, "diff": -0.05}}
    }


def test_plots_show_contains_every_declared_plot(two_commits):
    shown = dvc_json(two_commits, "plots", "show")
    ids = set(shown["data"])
    expected = {"plots/samples.png", "Training loss per epoch", "Validation loss per epoch",
                "plots/history.csv", "plots/confusion.csv"}
    expected |= {f"plots/most_wrong/{name}.png" for name in MODEL_NAMES}
    assert ids == expected
    assert not shown.get("errors")
    images = [e for e in shown["data"]["plots/samples.png"] if e["type"] == "image"]
    assert images and images[0]["url"].endswith(".png")


def test_plots_diff_overlays_two_commits(two_commits):
    shown = dvc_json(two_commits, "plots", "diff", "HEAD~1", "HEAD")
    overlay = shown["data"]["plots/history.csv"][0]
    assert set(overlay["revisions"]) == {"HEAD~1", "HEAD"}


def test_experiment_runs_only_the_cnn_and_shows_up_in_exp_show(two_commits):
    output = run(["dvc", "exp", "run", "-S", "models.cnn.lr=0.2", "-n", "cnn-lr-0.2"],
                 two_commits).stdout
    assert sorted(stages_run(output)) == ["evaluate", "train@cnn"]
    rows = dvc_json(two_commits, "exp", "show")
    experiments = [exp for row in rows for exp in (row.get("experiments") or [])]
    ours = [e for e in experiments if e.get("name") == "cnn-lr-0.2"]
    assert ours, rows
    data = ours[0]["revs"][0]["data"]
    assert data["params"]["params.yaml"]["data"]["models"]["cnn"]["lr"] == 0.2
    cnn_metrics = data["metrics"]["metrics/cnn.json"]["data"]
    # `dvc exp run` leaves the experiment's results in the workspace; compare with the commit.
    baseline = json.loads(run(["git", "show", "HEAD:metrics/cnn.json"], two_commits).stdout)
    assert cnn_metrics["valid"]["loss"] != baseline["valid"]["loss"]


@pytest.mark.parametrize("revisions", [[], ["HEAD~1", "HEAD"]])
def test_the_charts_draw_offline_in_one_page(two_commits, revisions):
    # DVC's own page loads vega from a CDN; tools/plots_offline.py draws every chart itself.
    pytest.importorskip("vl_convert")
    out = two_commits / "dvc_plots" / "offline.html"
    run([sys.executable, str(ROOT / "tools" / "plots_offline.py"), *revisions], two_commits)
    page = out.read_text()
    shown = dvc_json(two_commits, "plots", *(["diff", *revisions] if revisions else ["show"]))
    renders = [render for renders in shown["data"].values() for render in renders]
    assert page.count("<svg") == sum(render["type"] == "vega" for render in renders) > 0
    assert page.count("<img") == sum(render["type"] == "image" for render in renders) > 0
    assert all(html.escape(plot_id) in page for plot_id in shown["data"])
    assert "cdn" not in page.lower() and "<script" not in page
