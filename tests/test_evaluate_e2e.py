"""The evaluate stage evaluates: a metric added to its code reruns it and no training (real git
+ dvc), and `dvc metrics diff` shows the new numbers beside the committed ones."""

import json
import os

import pytest

from conftest import MODEL_NAMES
from project import create_project, run, stages_run
from synthetic import make_splits, write_pickle

pytestmark = pytest.mark.slow

SCORE = '''    return {"loss": round(loss, DIGITS), "accuracy": round(accuracy, DIGITS)}'''
WITH_ERROR = SCORE.replace("}", ', "error": round(1 - accuracy, DIGITS)}')


def test_a_metric_added_to_the_evaluate_code_costs_no_training(tmp_path):
    dataset = write_pickle(make_splits(1_500, 300, 300, seed=8), tmp_path / "mnist.pkl.gz")
    project = create_project(tmp_path / "project", str(dataset), dataset)
    # The stages import the project's own copy of the library, the one about to change.
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    run(["dvc", "repro"], project, env=env)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", "results"], project)
    models = {path.name: path.read_bytes() for path in (project / "models").iterdir()}

    scoring = project / "src" / "mnist_pipeline" / "evaluate" / "scoring.py"
    assert SCORE in scoring.read_text()
    scoring.write_text(scoring.read_text().replace(SCORE, WITH_ERROR))
    ran = stages_run(run(["dvc", "repro"], project, env=env).stdout)
    assert ran == ["evaluate"]
    assert {path.name: path.read_bytes() for path in (project / "models").iterdir()} == models

    diff = json.loads(run(["dvc", "metrics", "diff", "--json"], project).stdout)
    for name in MODEL_NAMES:
        changed = diff[f"metrics/{name}.json"]
        assert set(changed) == {"valid.error", "test.error"}  # the rest is as committed
        scores = json.loads((project / "metrics" / f"{name}.json").read_text())
        for split in ("valid", "test"):
            assert changed[f"{split}.error"]["old"] is None
            assert changed[f"{split}.error"]["new"] == pytest.approx(
                1 - scores[split]["accuracy"], abs=1e-6)
