"""Training seen while it runs: the train stage's live files after each epoch, the same history
as the evaluate stage's, and progress lines where stderr is not a terminal."""

import json
import logging

import pytest

from mnist_pipeline.core.tensor_files import save_splits
from mnist_pipeline.evaluate.results import ResultPaths, write_results
from mnist_pipeline.train import monitor
from mnist_pipeline.train.live import LiveView
from mnist_pipeline.train.monitor import EpochStats

from conftest import train_here


@pytest.fixture(scope="module")
def tensors(tiny_splits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tensors")
    save_splits(tiny_splits, folder)
    return folder


class Watched(LiveView):
    """A live view that also keeps what each write wrote."""

    seen: list

    def write(self, history, status="training"):
        super().write(history, status)
        self.seen.append((json.loads(self.metrics.read_text()),
                          self.history_csv.read_text().splitlines()))


def test_each_epoch_rewrites_the_live_files_with_the_history_evaluate_writes(
        tensors, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    live = Watched(tmp_path / "live" / "logistic.json", tmp_path / "live" / "logistic.csv")
    live.seen = []
    _, card = train_here("logistic", tensors, tmp_path, live, bs=32, epochs=3)
    assert [(shown["status"], shown["epoch"]) for shown, _ in live.seen] == [
        ("training", 0), ("training", 1), ("training", 2), ("training", 3), ("done", 3)]
    assert [len(rows) for _, rows in live.seen] == [1, 2, 3, 4, 4]  # header + epochs so far
    last = card["history"][-1]
    assert live.seen[-1][0] == {"status": "done", "epoch": 3,
                                "train_loss": round(last["train_loss"], 6),
                                "valid": {"loss": round(last["valid_loss"], 6),
                                          "accuracy": round(last["valid_accuracy"], 6)}}

    # The evaluate stage writes the same history, into git.
    final = ResultPaths(tmp_path / "m.json", tmp_path / "h.csv", tmp_path / "c.csv",
                        tmp_path / "w.png")
    write_results("logistic", tmp_path / "logistic.safetensors", tensors, final)
    assert final.history.read_text() == live.history_csv.read_text()


def test_a_run_of_the_same_params_writes_the_same_live_bytes(tensors, tmp_path, monkeypatch):
    # DVC hashes them as the stage's outputs: a rerun must leave dvc.lock as it was.
    monkeypatch.chdir(tmp_path)
    written = []
    for run in ("first", "second"):
        live = LiveView(tmp_path / run / "m.json", tmp_path / run / "m.csv")
        train_here("scratch", tensors, tmp_path / run, live, bs=32, epochs=2)
        written.append((live.metrics.read_bytes(), live.history_csv.read_bytes()))
    assert written[0] == written[1]


def test_a_stopped_run_marks_its_files_as_stopped_with_the_epochs_it_finished(tmp_path):
    live = LiveView(tmp_path / "m.json", tmp_path / "h.csv")
    live.write([EpochStats(1, 0.5, 0.4, 0.9), EpochStats(2, 0.3, 0.2, 0.95)], "stopped")
    assert json.loads(live.metrics.read_text()) == {
        "status": "stopped", "epoch": 2, "train_loss": 0.3,
        "valid": {"loss": 0.2, "accuracy": 0.95}}
    assert live.history_csv.read_text().splitlines()[1:] == ["1,0.5,0.4,0.9", "2,0.3,0.2,0.95"]


def test_progress_lines_where_stderr_is_not_a_terminal(tensors, tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(monitor, "PROGRESS_EVERY_S", 0.0)  # a line at every step
    with caplog.at_level(logging.INFO, logger=monitor.__name__):
        train_here("logistic", tensors, tmp_path, bs=32, epochs=1)
    lines = [r.getMessage() for r in caplog.records if ": step " in r.getMessage()]
    steps = -(-640 // 32)
    assert lines[0].startswith(f"epoch 1/1: step 1/{steps} (5%)")
    assert lines[-1].startswith(f"epoch 1/1: step {steps}/{steps} (100%)")
