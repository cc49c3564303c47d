"""The evaluate stage's files: the scores it computes, the card's history, the confusion pairs and
the most-wrong grid; and which stages run without torch."""

import csv
import json
import subprocess
import sys

import pytest
from PIL import Image

from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.core.names import HISTORY_COLUMNS
from mnist_pipeline.core.tensor_files import save_splits
from mnist_pipeline.evaluate.pictures import most_wrong_grid
from mnist_pipeline.evaluate.results import ResultPaths, write_results
from mnist_pipeline.evaluate.scoring import evaluate_model

from conftest import train_here
from stage_imports import imported_library_modules


@pytest.mark.parametrize("stage", ["fetch", "convert"])
def test_stages_without_math_do_not_import_torch(stage):
    # Every module of this package the stage script can run, found from its imports.
    modules = sorted(imported_library_modules(f"stages/{stage}.py"))
    assert "mnist_pipeline.core.cli" in modules
    code = f"import sys, {', '.join(modules)}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


@pytest.fixture(scope="module")
def trained(tiny_splits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("trained")
    save_splits(tiny_splits, folder / "tensors")
    _, card = train_here("logistic", folder / "tensors", folder)
    return folder, card


def test_the_files_hold_the_models_scores_and_its_cards_history(trained, tiny_splits, tmp_path):
    folder, card = trained
    out = ResultPaths(tmp_path / "m.json", tmp_path / "h.csv", tmp_path / "c.csv",
                      tmp_path / "w.png")
    write_results("logistic", folder / "logistic.safetensors", folder / "tensors", out)
    evaluation = evaluate_model("logistic", folder / "logistic.safetensors", folder / "tensors")

    written = json.loads(out.metrics.read_text())
    assert written == evaluation.scores
    assert written.keys() == {"valid", "test"}  # the headline numbers, nothing else
    assert set(written["test"]) == {"loss", "accuracy"}
    assert 0.3 < written["valid"]["accuracy"] <= 1 and written["test"]["loss"] > 0
    # The training's last validation, in fit's batches, is the same model on the same split.
    last = card["history"][-1]
    assert written["valid"]["loss"] == pytest.approx(last["valid_loss"], abs=1e-5)
    assert written["valid"]["accuracy"] == pytest.approx(last["valid_accuracy"], abs=1e-6)

    history = list(csv.reader(out.history.read_text().splitlines()))
    assert history[0] == HISTORY_COLUMNS and len(history) == 1 + 2
    assert float(history[-1][2]) == last["valid_loss"]

    pairs = list(csv.reader(out.confusion.read_text().splitlines()))
    assert pairs[0] == ["actual", "predicted"]
    assert [int(a) for a, _ in pairs[1:]] == tiny_splits["test"].y.tolist()
    correct = sum(a == p for a, p in pairs[1:]) / (len(pairs) - 1)
    assert correct == pytest.approx(written["test"]["accuracy"], abs=1e-6)
    # The grid shows the validation images at the computed indices, captioned as computed.
    wrong = evaluation.most_wrong
    expected = most_wrong_grid(tiny_splits["valid"].x[wrong["index"]], wrong["actual"],
                               wrong["predicted"])
    with Image.open(out.most_wrong) as written_png:
        assert written_png.tobytes() == expected.tobytes()


def test_a_model_file_of_another_variant_is_refused(trained, tmp_path):
    folder, _ = trained
    out = ResultPaths(*(tmp_path / name for name in ("m.json", "h.csv", "c.csv", "w.png")))
    with pytest.raises(PipelineError, match="holds model 'logistic', not 'cnn'"):
        write_results("cnn", folder / "logistic.safetensors", folder / "tensors", out)
    assert list(tmp_path.iterdir()) == []
