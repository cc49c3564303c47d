"""A model of one's own, added as the README says: an entry in variants.py's VARIANTS and
one in params.yaml's models; `dvc repro` then trains and evaluates it, with nothing else to do."""

import json
import os

import pytest

from project import create_project, run, set_params, stages_run
from synthetic import make_splits, write_pickle

pytestmark = pytest.mark.slow

# What the README shows, added at the end of variants.py.
MLP = '''

class Mnist_MLP(nn.Module):  # noqa: N801 - named as the tutorial names its models
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(784, 64)
        self.out = nn.Linear(64, 10)

    def forward(self, xb):
        return self.out(F.relu(self.hidden(xb)))


VARIANTS["mlp"] = Variant(Mnist_MLP)
'''


def test_a_model_of_ones_own_trains_with_one_entry_in_the_code_and_one_in_params(tmp_path):
    dataset = write_pickle(make_splits(3_000, 500, 500, seed=7), tmp_path / "mnist.pkl.gz")
    project = create_project(tmp_path / "project", str(dataset), dataset)
    variants = project / "src" / "mnist_pipeline" / "variants.py"
    variants.write_text(variants.read_text().replace(
        "from torch import optim", "from torch import nn, optim") + MLP)
    # The new model alone, to keep the test short (the others train as always).
    set_params(project, {"models": {"mlp": {"lr": 0.1, "momentum": 0.9}}})

    # The stages import the project's own copy of the library, the one just changed.
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    ran = stages_run(run(["dvc", "repro"], project, env=env).stdout)
    assert ran == ["fetch", "convert", "train@mlp", "evaluate"]
    metrics = json.loads((project / "metrics" / "mlp.json").read_text())
    assert metrics["test"]["accuracy"] > 0.5  # it learned (chance is 0.1)
    assert json.loads((project / "live" / "mlp" / "metrics.json").read_text())["status"] == "done"
    assert "mlp,9,9," in (project / "plots" / "confusion.csv").read_text()
    assert (project / "plots" / "most_wrong" / "mlp.png").is_file()
