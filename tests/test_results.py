"""The evaluate stage's files: each model's scores, every model's history and confusion counts,
each model's most-wrong grid; and which stages run without torch."""

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
from mnist_pipeline.evaluate.scoring import evaluate_model, load_splits

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
    """Two models trained in ``folder``, beside the tensor files: their cards."""
    folder = tmp_path_factory.mktemp("trained")
    save_splits(tiny_splits, folder / "tensors")
    cards = {name: train_here(name, folder / "tensors", folder)[1]
             for name in ("logistic", "scratch")}
    return folder, cards


def paths(folder) -> ResultPaths:
    return ResultPaths(folder / "metrics", folder / "history.csv", folder / "confusion.csv",
                       folder / "most_wrong")


def test_the_files_hold_every_models_scores_history_and_confusion(trained, tiny_splits,
                                                                   tmp_path):
    folder, cards = trained
    out = paths(tmp_path)
    write_results(list(cards), folder, folder / "tensors", out)
    history = list(csv.DictReader(out.history.read_text().splitlines()))
    confusion = list(csv.DictReader(out.confusion.read_text().splitlines()))
    assert list(history[0]) == ["model", *HISTORY_COLUMNS]
    for name, card in cards.items():
        evaluation = evaluate_model(name, folder / f"{name}.safetensors",
                                    load_splits(folder / "tensors"))
        written = json.loads((out.metrics / f"{name}.json").read_text())
        assert written == evaluation.scores and written.keys() == {"valid", "test"}
        assert 0.3 < written["valid"]["accuracy"] <= 1 and written["test"]["loss"] > 0
        # The training's last validation, in fit's batches: the same model on the same split.
        last = card["history"][-1]
        assert written["valid"]["loss"] == pytest.approx(last["valid_loss"], abs=1e-5)
        assert written["valid"]["accuracy"] == pytest.approx(last["valid_accuracy"], abs=1e-6)
        mine = [row for row in history if row["model"] == name]
        assert [int(row["epoch"]) for row in mine] == [1, 2]
        assert float(mine[-1]["valid_loss"]) == last["valid_loss"]
        # Each test image counted once; the diagonal's share is the test accuracy.
        counts = {(int(r["actual"]), int(r["predicted"])): int(r["count"]) for r in confusion
                  if r["model"] == name}
        assert sum(counts.values()) == len(tiny_splits["test"].y)
        right = sum(n for (actual, predicted), n in counts.items() if actual == predicted)
        assert right / len(tiny_splits["test"].y) == pytest.approx(
            written["test"]["accuracy"], abs=1e-6)
        # The grid shows the validation images at the computed rows, captioned as computed.
        wrong = evaluation.most_wrong
        expected = most_wrong_grid(tiny_splits["valid"].x[wrong["index"]], wrong["actual"],
                                   wrong["predicted"])
        with Image.open(out.most_wrong / f"{name}.png") as written_png:
            assert written_png.tobytes() == expected.tobytes()


def test_a_model_file_of_another_variant_is_refused(trained, tmp_path):
    folder, _ = trained
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "cnn.safetensors").write_bytes(
        (folder / "logistic.safetensors").read_bytes())
    with pytest.raises(PipelineError, match="holds model 'logistic', not 'cnn'"):
        write_results(["cnn"], tmp_path / "models", folder / "tensors", paths(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
