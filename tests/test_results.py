"""The evaluate stage: the trained model's record becomes metrics and plot files, without torch."""

import csv
import json
import subprocess
import sys

import pytest
from PIL import Image

from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.core.names import HISTORY_COLUMNS
from mnist_pipeline.core.params import load_params
from mnist_pipeline.core.tensor_files import save_splits
from mnist_pipeline.evaluate.pictures import most_wrong_grid
from mnist_pipeline.evaluate.results import ResultPaths, metrics, write_results

from conftest import ROOT
from stage_imports import imported_library_modules


@pytest.mark.parametrize("stage", ["fetch", "convert", "evaluate"])
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
    from mnist_pipeline.core.model_files import save_model
    from mnist_pipeline.train.variant import train_variant

    folder = tmp_path_factory.mktemp("trained")
    save_splits(tiny_splits, folder / "tensors")
    params = load_params(ROOT / "params.yaml")
    params = params.model_copy(update={"train": params.train.model_copy(update={"device": "cpu"})})
    result = train_variant("logistic", params, str(folder / "tensors"))
    save_model(folder / "logistic.safetensors", result.model.state_dict(), result.record)
    return folder, result.record


def test_files_hold_the_recorded_evaluation(trained, tiny_splits, tmp_path):
    folder, record = trained
    out = ResultPaths(tmp_path / "m.json", tmp_path / "h.csv", tmp_path / "c.csv",
                      tmp_path / "w.png")
    write_results("logistic", folder / "logistic.safetensors", folder / "tensors", out)

    written = json.loads(out.metrics.read_text())
    assert written == metrics(record)
    assert written["train"] == {"status": "done", "device": "cpu", "epochs": 2, "nproc": 1}
    assert 0 <= written["valid"]["accuracy"] <= 1 and written["test"]["loss"] > 0

    history = list(csv.reader(out.history.read_text().splitlines()))
    assert history[0] == HISTORY_COLUMNS and len(history) == 1 + 2
    assert float(history[-1][2]) == record["history"][-1]["valid_loss"]

    pairs = list(csv.reader(out.confusion.read_text().splitlines()))
    assert pairs[0] == ["actual", "predicted"]
    assert [int(a) for a, _ in pairs[1:]] == tiny_splits["test"].y.tolist()
    correct = sum(a == p for a, p in pairs[1:]) / (len(pairs) - 1)
    assert correct == pytest.approx(written["test"]["accuracy"], abs=1e-6)
    # The grid shows the validation images at the recorded indices, captioned as recorded.
    wrong = record["evaluation"]["most_wrong"]
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
