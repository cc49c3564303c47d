"""End to end: real git + real `dvc repro` on generated data served from 127.0.0.1."""

import json
import math

import pytest

from mnist_pipeline.core.names import MODEL_NAMES

from project import create_project, repro, run, set_params, stages_restored, stages_run
from synthetic import make_splits, write_pickle

pytestmark = pytest.mark.slow

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ALL_STAGES = {"fetch", "convert"} | {
    f"{stage}@{name}" for stage in ("train", "evaluate") for name in MODEL_NAMES
}


@pytest.fixture(scope="module")
def learnable_pickle(tmp_path_factory):
    # 15,000 training images: enough steps in one epoch for the CNNs to leave their plateau.
    return write_pickle(make_splits(15_000, 1_000, 1_000, seed=0),
                       tmp_path_factory.mktemp("data") / "mnist.pkl.gz")


@pytest.fixture(scope="module")
def served(learnable_pickle):
    from http_server import ScriptedServer

    server = ScriptedServer().start()
    server.serve("mnist.pkl.gz", learnable_pickle.read_bytes())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def project(tmp_path_factory, served, learnable_pickle):
    """A project that has run `dvc repro` once, from scratch."""
    path = create_project(tmp_path_factory.mktemp("e2e") / "project",
                          served.url("mnist.pkl.gz"), learnable_pickle)
    ran = repro(path)
    assert set(ran) == ALL_STAGES
    return path


def metrics(project, name):
    return json.loads((project / "metrics" / f"{name}.json").read_text())


def test_every_model_has_sane_metrics(project):
    for name in MODEL_NAMES:
        m = metrics(project, name)
        for split in ("valid", "test"):
            assert math.isfinite(m[split]["loss"]) and m[split]["loss"] > 0
            assert 0 <= m[split]["accuracy"] <= 1
        assert set(m["test"]["per_class_accuracy"]) == {str(d) for d in range(10)}
        assert m["train"] == {"status": "done", "device": "cpu", "epochs": 1, "nproc": 1}
        history = (project / "plots" / name / "train.csv").read_text().splitlines()
        assert history[0] == "epoch,train_loss,valid_loss,valid_accuracy"
        assert len(history) == 2
        confusion = (project / "plots" / name / "confusion.csv").read_text().splitlines()
        assert confusion[0] == "actual,predicted" and len(confusion) == 1 + 1_000
        assert (project / "plots" / name / "most_wrong.png").read_bytes()[:8] == PNG_MAGIC
    assert (project / "plots" / "samples.png").read_bytes()[:8] == PNG_MAGIC
    # Learnable data: after one epoch every model beats chance (0.1) clearly.
    for name in MODEL_NAMES:
        assert metrics(project, name)["test"]["accuracy"] > 0.4, name
    # Same init and math: the three CNN formulations end identically (tutorial: same model).
    assert metrics(project, "cnn")["test"] == metrics(project, "sequential")["test"]


def test_second_repro_runs_nothing(project):
    assert repro(project) == []
    assert run(["dvc", "status", "--json"], project).stdout.strip() == "{}"


def test_changing_cnn_lr_reruns_only_the_cnn(project):
    before = {name: metrics(project, name) for name in MODEL_NAMES}
    set_params(project, {"models.cnn.lr": 0.05})
    try:
        assert sorted(repro(project)) == ["evaluate@cnn", "train@cnn"]
        after = {name: metrics(project, name) for name in MODEL_NAMES}
        assert after["cnn"] != before["cnn"]
        assert all(after[n] == before[n] for n in MODEL_NAMES if n != "cnn")
    finally:
        set_params(project, {"models.cnn.lr": 0.1})
        output = run(["dvc", "repro"], project).stdout
    # Back to a value already run: both stages come from the run-cache, nothing retrains.
    assert stages_run(output) == []
    assert sorted(stages_restored(output)) == ["evaluate@cnn", "train@cnn"]
    assert metrics(project, "cnn") == before["cnn"]


def test_rerun_with_same_params_gives_identical_model_bytes(project):
    names = ("scratch", "cnn")
    before = {n: (project / "models" / f"{n}.safetensors").read_bytes() for n in names}
    ran = repro(project, "--force", "--single-item", *(f"train@{n}" for n in names))
    assert sorted(ran) == ["train@cnn", "train@scratch"]
    for n in names:
        assert (project / "models" / f"{n}.safetensors").read_bytes() == before[n]


def test_bad_param_fails_the_stage_with_the_key_name(project):
    set_params(project, {"train.device": "gpu"})
    try:
        result = run(["dvc", "repro", "train@logistic"], project, check=False)
        assert result.returncode != 0
        assert "train.device: got 'gpu'" in result.stdout + result.stderr
    finally:
        set_params(project, {"train.device": "auto"})


def test_every_chart_names_its_model_colours_each_line_and_draws_whole_epochs(project):
    shown = json.loads(run(["dvc", "plots", "show", "--json"], project).stdout)["data"]
    charts = {plot_id: render["content"] for plot_id, renders in shown.items()
              for render in renders if render["type"] == "vega"}
    for name in MODEL_NAMES:
        own = [plot_id for plot_id in charts
               if plot_id.startswith((f"plots/{name}/", f"{name}:"))]
        assert len(own) == 3, (name, sorted(charts))  # history, confusion, train vs valid
        for plot_id in own:
            assert name in charts[plot_id]["title"]["text"], plot_id
    for plot_id, chart in charts.items():
        if "confusion" in plot_id:
            continue
        encoding = chart["encoding"]
        assert encoding["x"]["axis"]["format"] == "d", plot_id  # epochs 1, 2, not 1.0, 1.1
        assert not any(param.get("name") == "smooth" for param in chart.get("params", []))
        lines = {row.get("filename") or row.get("field") for row in chart["data"]["values"]}
        if len(lines) > 1:  # an overlay: one colour per model (or per field), not per revision
            color = encoding["color"]
            assert color["type"] == "nominal" and color["field"] != "rev", plot_id
            named = {step["as"]: step["calculate"] for step in chart.get("transform", [])}
            assert "datum.filename" in named[color["field"]], plot_id
            assert "datum.field" in named[color["field"]], plot_id
    overlay = charts["Validation loss per epoch, all models"]
    assert {row["filename"].split("/")[0] for row in overlay["data"]["values"]} == \
        set(MODEL_NAMES)
