"""Checkpoints, resume, divergence and interruption of the train stage (in-process, CPU)."""

import json
import logging
import sys
from pathlib import Path

import psutil
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.core.model_files import read_card
from mnist_pipeline.core.params import load_params
from mnist_pipeline.core.tensor_files import save_splits
from mnist_pipeline.train import checkpoints
from mnist_pipeline.train.batches import get_batches
from mnist_pipeline.train.checkpoints import Checkpoint, data_digest, run_key
from mnist_pipeline.train.monitor import DivergenceError, Monitor
from mnist_pipeline.train.progress import Progress
from mnist_pipeline.train.training import Callbacks, train_model
from mnist_pipeline.tutorial.fit import fit
from mnist_pipeline.variants import VARIANTS, get_model

from conftest import ROOT


@pytest.fixture(scope="module")
def tensors(tiny_splits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tensors")
    save_splits(tiny_splits, folder)
    return folder


@pytest.fixture
def here(tmp_path, monkeypatch, caplog):
    """Run in ``tmp_path`` (where .checkpoints/ goes), with the stage's log captured."""
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.INFO)
    return tmp_path


def params_with(model="logistic", **changes):
    """The project's params on the CPU, 3 epochs of 32, with ``changes`` to ``train.*`` and
    to ``model``'s ``lr``/``momentum``."""
    params = load_params(ROOT / "params.yaml")
    hyper = {key: changes.pop(key) for key in ("lr", "momentum") if key in changes}
    train = params.train.model_copy(update={"device": "cpu", "bs": 32, "epochs": 3, **changes})
    models = {**params.models, model: params.models[model].model_copy(update=hyper)}
    return params.model_copy(update={"train": train, "models": models})


def stop_after_first_save(monkeypatch):
    """The next checkpoint saved stops the run, as Ctrl-C would just after it."""
    save = Checkpoint.save

    def save_then_stop(self, state):
        save(self, state)
        monkeypatch.setattr(Checkpoint, "save", save)
        raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoint, "save", save_then_stop)


def train(name, params, tensors, out, live=None):
    train_model(name, params, str(tensors), str(out), live and str(live))
    return out.read_bytes()


@pytest.mark.parametrize("name", ["scratch", "cnn"])
def test_a_resumed_run_ends_with_the_same_model_file(tensors, here, monkeypatch, caplog, name):
    params = params_with(name)
    straight = train(name, params, tensors, here / "straight.safetensors")

    stop_after_first_save(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        train(name, params, tensors, here / "resumed.safetensors")
    assert (here / ".checkpoints" / f"{name}.pt").is_file()
    assert not (here / "resumed.safetensors").exists()
    assert (f"interrupted in epoch 1 at its end; no model written; epoch 1 is saved in "
            f".checkpoints/{name}.pt: run `dvc repro` again to resume") in caplog.text

    resumed = train(name, params, tensors, here / "resumed.safetensors")
    assert "resuming after epoch 1/3" in caplog.text
    assert resumed == straight  # the weights, the history and the scores
    assert not (here / ".checkpoints").exists()


# Every param that changes the model, as the train stage reads it (train.nproc and
# train.nnodes are in the key as the ranks; tests/test_distributed.py runs several).
CHANGES = {"train.seed": {"seed": 1}, "train.bs": {"bs": 16}, "train.epochs": {"epochs": 4},
           "lr": {"lr": 0.25}, "momentum": {"momentum": 0.5}}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES)
def test_a_checkpoint_made_with_other_params_is_never_resumed(tensors, here, monkeypatch,
                                                              caplog, change):
    stop_after_first_save(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        train("logistic", params_with(), tensors, here / "first.safetensors")
    caplog.clear()
    changed = params_with(**change)
    again = train("logistic", changed, tensors, here / "again.safetensors")
    assert ".checkpoints/logistic.pt: made with other params, code or data" in caplog.text
    assert "resuming" not in caplog.text
    assert again == train("logistic", changed, tensors, here / "straight.safetensors")


def test_an_unreadable_checkpoint_is_never_resumed(tmp_path):
    checkpoint = Checkpoint("cnn", "key", tmp_path)
    checkpoint.path.write_bytes(b"not a checkpoint")
    assert checkpoint.load() is None and not checkpoint.path.exists()


def test_a_checkpoint_of_something_else_than_a_dict_is_unreadable_and_removed(tmp_path, caplog):
    checkpoint = Checkpoint("cnn", "key", tmp_path)
    torch.save([1, 2, 3], checkpoint.path)
    assert checkpoint.load() is None and not checkpoint.path.exists()
    assert "unreadable checkpoint (holds a list, not a dict)" in caplog.text


def test_run_key_follows_params_code_and_data(tensors, tmp_path):
    base = {"run": {"model": "cnn", "lr": 0.1}, "code": "code"}
    digest = data_digest(tensors).result()
    key = run_key({**base, "data": digest})
    assert key == run_key({"data": data_digest(tensors).result(), **base})
    assert run_key({**base, "run": {"model": "cnn", "lr": 0.2}, "data": digest}) != key
    assert run_key({**base, "code": "other code", "data": digest}) != key
    changed = tmp_path / "changed"
    changed.mkdir()
    for path in tensors.iterdir():
        (changed / path.name).write_bytes(path.read_bytes())
    with open(changed / "valid.safetensors", "r+b") as f:  # one byte of the data, not header
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 1]))
    assert run_key({**base, "data": data_digest(changed).result()}) != key


def loaders(split, bs):
    data = TensorDataset(torch.from_numpy(split.x), torch.from_numpy(split.y))
    return get_batches(data, data, bs)


def monitored(model, opt, loss_func, train_dl, valid_dl, epochs, history=(), saved=None):
    """fit with a Monitor and a Progress, as the stage runs it; returns the monitor (its
    progress is ``monitored.last``, also when fit raised)."""
    monitor = Monitor(model, valid_dl, history=list(history),
                      on_epoch_end=saved.append if saved is not None else None)
    monitored.last = Progress(epochs, len(train_dl), len(history))
    fit(epochs - len(history), model, loss_func, opt, train_dl, valid_dl,
        callbacks=Callbacks((monitored.last, monitor)))
    return monitor


def test_a_diverging_loss_stops_with_the_epoch_and_step(tiny_splits):
    torch.manual_seed(0)
    model, opt = get_model("scratch", 1e6, 0.0)
    train_dl, _ = loaders(tiny_splits["train"], 16)
    _, valid_dl = loaders(tiny_splits["valid"], 16)
    saved = []
    with pytest.raises(DivergenceError, match=r"the loss became (nan|inf) in epoch 1 at step \d+"):
        monitored(model, opt, VARIANTS["scratch"].loss_func, train_dl, valid_dl, 2, saved=saved)
    assert saved == []  # nothing recorded for a diverged epoch


def test_an_infinite_loss_stops_training_as_nan_does(tiny_splits):
    steps = []

    def infinite_at_step_3(out, yb):  # +inf as a loss, with finite gradients
        loss = F.cross_entropy(out, yb)
        steps.append(1)
        return loss + float("inf") if len(steps) == 3 else loss

    torch.manual_seed(0)
    model, opt = get_model("logistic", 0.5, 0.0)
    train_dl, valid_dl = loaders(tiny_splits["train"], 64)  # 10 steps: checked at its end
    with pytest.raises(DivergenceError, match=r"the loss became inf in epoch 1 at step 3$"):
        monitored(model, opt, infinite_at_step_3, train_dl, valid_dl, 2)


class StopAtStep:
    """Batches that deliver Ctrl-C at a given step, as the signal handler would."""

    def __init__(self, batches, step):
        self.batches, self.step = batches, step

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        for step, batch in enumerate(self.batches, 1):
            if step == self.step:
                raise KeyboardInterrupt
            yield batch


def test_an_interruption_says_where_training_stopped(tiny_splits):
    torch.manual_seed(0)
    model, opt = get_model("logistic", 0.5, 0.0)
    loss_func = VARIANTS["logistic"].loss_func
    train_dl, valid_dl = loaders(tiny_splits["train"], 64)
    history = monitored(model, opt, loss_func, train_dl, valid_dl, 1).history
    with pytest.raises(KeyboardInterrupt):
        monitored(model, opt, loss_func, StopAtStep(train_dl, 5), valid_dl, 3, history)
    assert monitored.last.position() == "in epoch 2 after step 4"


def train_until_stopped(tensors, here) -> Path:
    """Train logistic with a live view until the stop the test arranged; no model written.
    Returns the live view's folder."""
    with pytest.raises(KeyboardInterrupt):
        train("logistic", params_with(), tensors, here / "m.safetensors", here / "live")
    assert not (here / "m.safetensors").exists()
    return here / "live"


def summary(live: Path) -> dict:
    return json.loads((live / "metrics.json").read_text())


def test_a_stopped_run_says_what_it_kept_and_its_live_view_says_stopped(tensors, here,
                                                                       monkeypatch, caplog):
    import mnist_pipeline.tutorial.fit as tutorial_fit

    real, steps = tutorial_fit.loss_batch, []

    def stop_in_epoch_2(*args, **kwargs):
        steps.append(1)
        if len(steps) == 20 + 4 + 5:  # epoch 1: 20 steps, 4 of validation; then epoch 2, step 5
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(tutorial_fit, "loss_batch", stop_in_epoch_2)
    live = train_until_stopped(tensors, here)
    assert ("interrupted in epoch 2 after step 4; no model written; epoch 1 is saved in "
            ".checkpoints/logistic.pt") in caplog.text
    assert summary(live)["status"] == "stopped" and summary(live)["step"] == 1
    assert len((live / "plots/metrics/valid_loss.tsv").read_text().splitlines()) == 1 + 1


def test_a_stop_while_writing_the_model_keeps_every_epoch_and_says_stopped(tensors, here,
                                                                          monkeypatch, caplog):
    from mnist_pipeline.train import training

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "save_model", stopped)
    live = train_until_stopped(tensors, here)
    assert ("interrupted after its last epoch; no model written; epochs 1-3 are saved in "
            ".checkpoints/logistic.pt") in caplog.text
    assert summary(live)["status"] == "stopped"


def test_a_stop_inside_a_checkpoint_write_says_what_is_on_disk(tensors, here, monkeypatch,
                                                               caplog):
    # The file is in place, the write has not returned: the next run resumes epoch 1.
    write = checkpoints.write_bytes

    def written_then_stopped(*args):
        write(*args)
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints, "write_bytes", written_then_stopped)
    train_until_stopped(tensors, here)
    assert "epoch 1 is saved in .checkpoints/logistic.pt" in caplog.text


def test_a_stop_after_the_model_is_written_keeps_the_checkpoint_for_the_next_run(
        tensors, here, monkeypatch, caplog):
    # DVC discards the outputs of a stage that did not end well: the next run must not train
    # again, so the checkpoint goes only after everything else.
    from mnist_pipeline.train.live import LiveView

    end = LiveView.end

    def stopped_when_done(self, status):
        if status == "done":
            raise KeyboardInterrupt
        end(self, status)

    monkeypatch.setattr(LiveView, "end", stopped_when_done)
    params = params_with(epochs=2)
    with pytest.raises(KeyboardInterrupt):
        train("logistic", params, tensors, here / "m.safetensors", here / "live")
    assert "epochs 1-2 are saved in .checkpoints/logistic.pt" in caplog.text
    monkeypatch.setattr(LiveView, "end", end)
    caplog.clear()
    again = train("logistic", params, tensors, here / "m.safetensors", here / "live")
    assert "resuming after epoch 2/2" in caplog.text and "epoch 1/2" not in caplog.text
    assert again == train("logistic", params, tensors, here / "straight.safetensors")


def test_a_stop_while_the_checkpoint_is_removed_does_not_claim_it_is_kept(tensors, here,
                                                                         monkeypatch, caplog):
    remove = Checkpoint.remove

    def removed_then_stopped(self):
        remove(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoint, "remove", removed_then_stopped)
    with pytest.raises(KeyboardInterrupt):
        train("logistic", params_with(epochs=1), tensors, here / "m.safetensors")
    assert "no checkpoint is left: the next run starts from scratch" in caplog.text
    assert " saved in " not in caplog.text


def test_a_diverged_run_leaves_no_checkpoint_and_says_diverged(tensors, here):
    with pytest.raises(PipelineError, match="no model written. Lower models.scratch.lr "
                                            r"\(now 1000000.0\) and run again"):
        train("scratch", params_with("scratch", lr=1e6), tensors, here / "m.safetensors",
              here / "live")
    assert summary(here / "live")["status"] == "diverged"
    assert not (here / ".checkpoints").exists() and not (here / "m.safetensors").exists()


def test_the_card_counts_processes_per_node_and_nodes_as_params_yaml_sets_them(tensors, here):
    # One process here, whatever train.nproc says (no torchrun): the card records the params,
    # not how many ranks happened to run.
    train("logistic", params_with(nproc=2, nnodes=3, bs=60, epochs=1), tensors,
          here / "m.safetensors")
    card = read_card(here / "m.safetensors", "logistic")
    assert (card["nproc"], card["nnodes"], card["bs"], card["epochs"]) == (2, 3, 60, 1)
    assert card["device"] == "cpu" and [row["epoch"] for row in card["history"]] == [1]


def test_any_failure_leaves_the_live_view_saying_failed_not_training(tensors, here,
                                                                     monkeypatch):
    from mnist_pipeline.train import training

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(training, "save_model", full_disk)
    with pytest.raises(OSError):
        train("logistic", params_with(epochs=1), tensors, here / "m.safetensors", here / "live")
    assert summary(here / "live")["status"] == "failed"


def test_an_orphaned_stage_writes_no_model_and_the_next_run_finishes_from_its_checkpoint(
        tensors, here, monkeypatch, caplog):
    from mnist_pipeline.core import cli
    from mnist_pipeline.core.cli import Stopped

    params, weights = params_with(epochs=2), here / "logistic.safetensors"
    # As if dvc had been killed while the stage trained: its parent is no longer the one
    # stop_with_parent saw at start (whose poll may not have fired yet).
    monkeypatch.setattr(cli, "_watched", [(psutil.Process(), -1)])
    with pytest.raises(Stopped):
        train("logistic", params, tensors, weights)
    assert not weights.exists()
    assert "no model written; epochs 1-2 are saved" in caplog.text

    monkeypatch.setattr(cli, "_watched", [])
    caplog.clear()
    finished = train("logistic", params, tensors, weights)
    assert "resuming after epoch 2/2" in caplog.text
    assert not (here / ".checkpoints").exists()
    assert finished == train("logistic", params, tensors, here / "straight.safetensors")


def test_the_train_stage_without_tensor_files_says_to_run_convert_in_one_line(tmp_path):
    import subprocess
    import sys

    params = tmp_path / "params.yaml"
    params.write_text((ROOT / "params.yaml").read_text().replace("device: auto", "device: cpu"))
    result = subprocess.run([sys.executable, str(ROOT / "stages" / "train.py"), "cnn",
                             str(tmp_path / "tensors"), str(tmp_path / "cnn.safetensors"),
                             "--params", str(params)], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"train: error: {tmp_path / 'tensors' / 'train.safetensors'}: missing; "
        "run the convert stage first")
    assert "Traceback" not in result.stderr and not (tmp_path / "cnn.safetensors").exists()


def test_checkpoints_sit_in_one_folder_that_goes_with_the_last_one(tmp_path):
    assert checkpoints.CHECKPOINT_DIR.name == ".checkpoints"
    first, second = Checkpoint("cnn", "k", tmp_path / "c"), Checkpoint("scratch", "k",
                                                                      tmp_path / "c")
    for checkpoint in (first, second):
        checkpoint.save({"history": []})
    first.remove()
    assert (tmp_path / "c").is_dir()
    second.remove()
    assert not (tmp_path / "c").exists()


def test_the_code_digest_follows_the_modules_beside_the_running_script(tmp_path, monkeypatch):
    # stages/startup.py sets what the training runs under (deterministic algorithms, say): a
    # checkpoint made before it changed is another run's.
    import types

    (tmp_path / "train.py").write_text("import startup\n")
    (tmp_path / "startup.py").write_text("DETERMINISTIC = False\n")
    monkeypatch.setitem(sys.modules, "__main__",
                        types.SimpleNamespace(__file__=str(tmp_path / "train.py")))
    first = checkpoints.code_digest()
    assert checkpoints.code_digest() == first
    (tmp_path / "startup.py").write_text("DETERMINISTIC = True\n")
    assert checkpoints.code_digest() != first
