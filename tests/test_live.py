"""Training seen while it runs: the metrics and history files after each epoch, their final
form from the evaluate stage, and progress lines where stderr is not a terminal."""

import json
import logging

import pytest

from mnist_pipeline.core.model_files import save_model
from mnist_pipeline.core.params import load_params
from mnist_pipeline.core.tensor_files import save_splits
from mnist_pipeline.evaluate.results import ResultPaths, write_results
from mnist_pipeline.train import callbacks
from mnist_pipeline.train.live import STEP_SIGNAL, LiveFiles
from mnist_pipeline.train.variant import train_variant

from conftest import ROOT


@pytest.fixture(scope="module")
def tensors(tiny_splits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tensors")
    save_splits(tiny_splits, folder)
    return folder


def params(epochs=3):
    loaded = load_params(ROOT / "params.yaml")
    return loaded.model_copy(update={"train": loaded.train.model_copy(
        update={"device": "cpu", "bs": 32, "epochs": epochs})})


class Watched(LiveFiles):
    """Live files that also keep what each update wrote."""

    def update(self, history, status="training", seconds=None):
        super().update(history, status, seconds)
        self.seen.append((status, json.loads(self.metrics.read_text()),
                          self.history.read_text().splitlines()))


def test_each_epoch_rewrites_the_files_and_evaluate_ends_them_as_a_run_that_never_showed_them(
        tensors, tmp_path, monkeypatch):
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    live = Watched(tmp_path / "metrics" / "logistic.json", tmp_path / "plots" / "train.csv",
                   epochs=3, device="cpu", nproc=1)
    live.seen = []
    result = train_variant("logistic", params(), str(tensors), live=live)
    statuses = [(status, seen["train"]["epoch"]) for status, seen, _ in live.seen]
    assert statuses == [("training", 0), ("training", 1), ("training", 2), ("trained", 3)]
    assert [len(rows) for _, _, rows in live.seen] == [1, 2, 3, 4]  # header + epochs so far
    last = live.seen[-1][1]
    assert last["valid"]["loss"] == round(result.record["history"][-1]["valid_loss"], 6)
    assert last["train"]["epoch_seconds"] > 0 and "test" not in last
    assert json.loads((tmp_path / STEP_SIGNAL).read_text())["step"] == 3  # for VS Code

    # The evaluate stage's history is the same text; its metrics say the run is done.
    save_model(tmp_path / "logistic.safetensors", result.model.state_dict(), result.record)
    final = ResultPaths(tmp_path / "m.json", tmp_path / "h.csv", tmp_path / "c.csv",
                        tmp_path / "w.png")
    write_results("logistic", tmp_path / "logistic.safetensors", tensors, final)
    assert final.history.read_text() == live.history.read_text()
    assert json.loads(final.metrics.read_text())["train"]["status"] == "done"


def test_a_stopped_run_marks_its_files_as_stopped_with_the_epochs_it_finished(tmp_path):
    from mnist_pipeline.train.callbacks import EpochRecord

    live = LiveFiles(tmp_path / "m.json", tmp_path / "h.csv", epochs=5, device="cpu", nproc=1)
    live.update([EpochRecord(1, 0.5, 0.4, 0.9), EpochRecord(2, 0.3, 0.2, 0.95)])
    live.update(live.done, "stopped")
    written = json.loads((tmp_path / "m.json").read_text())
    assert written["train"]["status"] == "stopped" and written["train"]["epoch"] == 2
    assert written["valid"] == {"loss": 0.2, "accuracy": 0.95}


def test_progress_lines_where_stderr_is_not_a_terminal(tensors, monkeypatch, caplog):
    monkeypatch.setattr(callbacks, "PROGRESS_EVERY_S", 0.0)  # a line at every step
    with caplog.at_level(logging.INFO, logger=callbacks.__name__):
        train_variant("logistic", params(epochs=1), str(tensors))
    lines = [r.getMessage() for r in caplog.records if ": step " in r.getMessage()]
    steps = -(-640 // 32)
    assert lines[0].startswith(f"epoch 1/1: step 1/{steps} (5%)")
    assert lines[-1].startswith(f"epoch 1/1: step {steps}/{steps} (100%)")
