"""End to end: real git + real `dvc repro` on generated data served from 127.0.0.1."""

import json
import math

import pytest

from conftest import MODEL_NAMES
from project import create_project, repro, run, set_params, stages_restored, stages_run
from synthetic import make_splits, write_pickle

pytestmark = pytest.mark.slow

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ALL_STAGES = {"fetch", "convert", "evaluate"} | {f"train@{name}" for name in MODEL_NAMES}


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
    from mnist_pipeline.core.model_files import read_card

    for name in MODEL_NAMES:
        m = metrics(project, name)
        assert m.keys() == {"valid", "test"}
        for split in ("valid", "test"):
            assert math.isfinite(m[split]["loss"]) and m[split]["loss"] > 0
            assert 0 <= m[split]["accuracy"] <= 1
        card = read_card(project / "models" / f"{name}.safetensors", name)
        assert (card["device"], card["epochs"], card["nproc"], card["nnodes"]) == ("cpu", 1, 1, 1)
        assert "scores" not in card  # scoring is the evaluate stage's
        # The training's last validation and evaluate's: the same model on the same split.
        assert card["history"][-1]["valid_loss"] == pytest.approx(m["valid"]["loss"], abs=1e-5)
        live = json.loads((project / "live" / name / "metrics.json").read_text())
        assert live == {"status": "done", "step": 1,
                        "train_loss": round(card["history"][-1]["train_loss"], 6)}
        history = (project / "plots" / "history.csv").read_text().splitlines()
        assert history[0] == "model,epoch,train_loss,valid_loss,valid_accuracy"
        assert [row for row in history if row.startswith(f"{name},")] == [
            f"{name},1," + ",".join(str(card["history"][0][column]) for column in
                                    ("train_loss", "valid_loss", "valid_accuracy"))]
        curve = (project / "live" / name / "plots/metrics/valid_accuracy.tsv").read_text()
        assert curve.splitlines()[1] == f"1\t{round(card['history'][0]['valid_accuracy'], 6)}"
        confusion = (project / "plots" / "confusion.csv").read_text().splitlines()
        assert confusion[0] == "model,actual,predicted,count"
        counts = [int(row.split(",")[3]) for row in confusion if row.startswith(f"{name},")]
        assert sum(counts) == 1_000  # every test image, once
        assert (project / "plots" / "most_wrong" / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
    assert (project / "plots" / "samples.png").read_bytes()[:8] == PNG_MAGIC
    # Learnable data: after one epoch every model beats chance (0.1) clearly.
    for name in MODEL_NAMES:
        assert metrics(project, name)["test"]["accuracy"] > 0.4, name
    # Same init and math: the three CNN formulations end identically (tutorial: same model).
    assert metrics(project, "cnn")["test"] == metrics(project, "sequential")["test"]


def test_second_repro_runs_nothing(project):
    assert repro(project) == []
    assert run(["dvc", "status", "--json"], project).stdout.strip() == "{}"
    # Nor does a model write that a SIGKILL cut short: evaluate depends on the models folder.
    leftover = project / "models" / ".cnn.safetensors.0123abcd.tmp"
    leftover.write_bytes(b"cut short")
    try:
        assert run(["dvc", "status", "--json"], project).stdout.strip() == "{}"
    finally:
        leftover.unlink()


def test_changing_cnn_lr_reruns_only_the_cnn(project):
    before = {name: metrics(project, name) for name in MODEL_NAMES}
    set_params(project, {"models.cnn.lr": 0.05})
    try:
        assert sorted(repro(project)) == ["evaluate", "train@cnn"]
        after = {name: metrics(project, name) for name in MODEL_NAMES}
        assert after["cnn"] != before["cnn"]
        assert all(after[n] == before[n] for n in MODEL_NAMES if n != "cnn")
    finally:
        set_params(project, {"models.cnn.lr": 0.1})
        output = run(["dvc", "repro"], project).stdout
    # Back to a value already run: both stages come from the run-cache, nothing retrains.
    assert stages_run(output) == []
    assert sorted(stages_restored(output)) == ["evaluate", "train@cnn"]
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


def test_the_charts_of_a_real_run_draw_its_epoch_and_every_declared_file(project):
    # How the charts look is tests/test_charts.py's; here: they draw this run's files.
    shown = json.loads(run(["dvc", "plots", "show", "--json"], project).stdout)
    assert not shown.get("errors")
    charts = {plot_id: render["content"] for plot_id, renders in shown["data"].items()
              for render in renders if render["type"] == "vega"}
    for title in ("Training loss per epoch", "Validation loss per epoch"):
        rows = charts[title]["data"]["values"]
        # DVC drops the files' common prefix (live/) from their names.
        assert {row["filename"].split("/")[0] for row in rows} == set(MODEL_NAMES)
        assert {row["step"] for row in rows} == {"1"}
    for plot_id in ("plots/history.csv", "plots/confusion.csv"):
        assert {row["model"] for row in charts[plot_id]["data"]["values"]} == set(MODEL_NAMES)
