"""Training seen while it runs: DVCLive's files in the train stage's live folder after each
epoch, the same history as the model card's, and progress lines where stderr is no terminal."""

import json
import logging

import pytest

from mnist_pipeline.core.tensor_files import save_splits
from mnist_pipeline.train import progress
from mnist_pipeline.train.live import LiveView
from mnist_pipeline.train.monitor import EpochStats

from conftest import train_here


@pytest.fixture(scope="module")
def tensors(tiny_splits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tensors")
    save_splits(tiny_splits, folder)
    return folder


def curves(folder):
    """DVCLive's per-epoch curves: {name: [(step, value), ...]}."""
    found = {}
    for path in sorted((folder / "plots" / "metrics").glob("*.tsv")):
        header, *rows = path.read_text().splitlines()
        assert header == f"step\t{path.stem}"
        found[path.stem] = [(int(step), float(value))
                            for step, value in (row.split("\t") for row in rows)]
    return found


class Watched(LiveView):
    """A live view that keeps what its folder held after each epoch and each status."""

    seen: list = []

    def log_epoch(self, stats):
        super().log_epoch(stats)
        self.seen.append(self.look())

    def status(self, status):
        super().status(status)
        self.seen.append(self.look())

    def look(self):
        folder = self.live.dir
        from pathlib import Path

        return json.loads((Path(folder) / "metrics.json").read_text()), curves(Path(folder))


def test_each_epoch_is_logged_as_it_ends_with_the_history_of_the_model_card(
        tensors, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Watched.seen = []
    monkeypatch.setattr("mnist_pipeline.train.training.LiveView", Watched)
    _, card = train_here("logistic", tensors, tmp_path, str(tmp_path / "live"), bs=32, epochs=3)
    summaries = [summary for summary, _ in Watched.seen]
    assert [(s["status"], s.get("step")) for s in summaries] == [
        ("training", None), ("training", 1), ("training", 2), ("training", 3), ("done", 3)]
    assert [len(found.get("train_loss", [])) for _, found in Watched.seen] == [0, 1, 2, 3, 3]
    # The summary holds what only the training knows; the scores are the evaluate stage's.
    last = card["history"][-1]
    assert summaries[-1] == {"status": "done", "train_loss": round(last["train_loss"], 6),
                             "step": 3}
    found = curves(tmp_path / "live")
    for name in ("train_loss", "valid_loss", "valid_accuracy"):
        assert found[name] == [(row["epoch"], round(row[name], 6)) for row in card["history"]]


def test_a_run_of_the_same_params_writes_the_same_live_bytes(tensors, tmp_path, monkeypatch):
    # DVC hashes them as the stage's outputs: a rerun must leave dvc.lock as it was.
    monkeypatch.chdir(tmp_path)
    written = []
    for run in ("first", "second"):
        train_here("scratch", tensors, tmp_path / run, str(tmp_path / run / "live"), bs=32,
                   epochs=2)
        written.append({path.relative_to(tmp_path / run): path.read_bytes()
                        for path in (tmp_path / run / "live").rglob("*") if path.is_file()})
    assert written[0] == written[1] and len(written[0]) == 4  # the summary, three curves


def test_a_resumed_log_continues_the_same_steps_and_a_stop_never_looks_finished(tmp_path):
    epochs = [EpochStats(1, 0.5, 0.4, 0.9), EpochStats(2, 0.3, 0.2, 0.95)]
    live = LiveView(str(tmp_path / "stopped"))
    live.log_epoch(epochs[0])
    live.end("stopped")
    assert json.loads((tmp_path / "stopped" / "metrics.json").read_text()) == {
        "status": "stopped", "train_loss": 0.5, "step": 1}
    # DVC deletes the stage's outputs before the next run, which logs its kept epoch again.
    resumed = LiveView(str(tmp_path / "resumed"), epochs[:1])
    resumed.log_epoch(epochs[1])
    resumed.end("done")
    straight = LiveView(str(tmp_path / "straight"))
    for stats in epochs:
        straight.log_epoch(stats)
    straight.end("done")
    assert curves(tmp_path / "resumed") == curves(tmp_path / "straight")
    assert curves(tmp_path / "resumed")["valid_accuracy"] == [(1, 0.9), (2, 0.95)]
    assert ((tmp_path / "resumed" / "metrics.json").read_bytes()
            == (tmp_path / "straight" / "metrics.json").read_bytes())


def test_progress_lines_where_stderr_is_not_a_terminal(tensors, tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(progress, "PROGRESS_EVERY_S", 0.0)  # a line at every step
    with caplog.at_level(logging.INFO, logger="train"):
        train_here("logistic", tensors, tmp_path, bs=32, epochs=1)
    lines = [r.getMessage() for r in caplog.records if ": step " in r.getMessage()]
    steps = -(-640 // 32)
    assert lines[0].startswith(f"epoch 1/1: step 1/{steps} (5%)")
    assert lines[-1].startswith(f"epoch 1/1: step {steps}/{steps} (100%)")


def test_a_git_repository_without_a_commit_is_one_clear_error(tmp_path, monkeypatch):
    import subprocess

    from mnist_pipeline.core.errors import PipelineError

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["dvc", "init", "-q"], cwd=tmp_path, check=True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PipelineError, match="live/cnn: DVCLive cannot start in a git repository "
                                            "without a commit .*: commit, then run again"):
        LiveView("live/cnn")


def test_a_stop_right_after_dvclives_next_step_keeps_the_step_of_the_last_epoch(tmp_path,
                                                                                monkeypatch):
    live = LiveView(str(tmp_path / "live"))
    real = live.live.next_step

    def then_stopped():
        real()
        raise KeyboardInterrupt

    live.log_epoch(EpochStats(1, 0.5, 0.4, 0.9))
    monkeypatch.setattr(live.live, "next_step", then_stopped)
    with pytest.raises(KeyboardInterrupt):
        live.log_epoch(EpochStats(2, 0.3, 0.2, 0.95))
    live.end("stopped")
    assert json.loads((tmp_path / "live" / "metrics.json").read_text()) == {
        "status": "stopped", "train_loss": 0.3, "step": 2}


@pytest.mark.parametrize(("raised", "status"), [(KeyboardInterrupt, "stopped"),
                                                 (OSError, "failed")])
def test_a_stop_or_failure_while_kept_epochs_are_logged_again_never_says_training(
        tmp_path, monkeypatch, raised, status):
    kept = [EpochStats(1, 0.5, 0.4, 0.9), EpochStats(2, 0.3, 0.2, 0.95)]
    real = LiveView.log_epoch

    def fails_at_epoch_2(self, stats):
        if stats.epoch == 2:
            raise raised
        real(self, stats)

    monkeypatch.setattr(LiveView, "log_epoch", fails_at_epoch_2)
    with pytest.raises(raised):
        LiveView(str(tmp_path / "live"), kept)
    assert json.loads((tmp_path / "live" / "metrics.json").read_text()) == {
        "status": status, "train_loss": 0.5, "step": 1}
