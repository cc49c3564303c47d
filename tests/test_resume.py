"""Checkpoints, resume, divergence and interruption of the training loop (in-process, CPU)."""

import dataclasses
import os

import pytest
import torch

from mnist_pipeline.batches import TensorBatches
from mnist_pipeline.checkpoints import Checkpoint, DataDigest, run_key
from mnist_pipeline.models import VARIANTS, get_model
from mnist_pipeline.params import load_params
from mnist_pipeline.tensors import save_splits
from mnist_pipeline.trainer import train_variant
from mnist_pipeline.training import DivergenceError, TrainingInterrupted, fit

from conftest import ROOT


@pytest.fixture(scope="module")
def tensors(tiny_splits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tensors")
    save_splits(tiny_splits, folder)
    return folder


def params_with(**train):
    params = load_params(ROOT / "params.yaml")
    return dataclasses.replace(params, train=dataclasses.replace(
        params.train, **{"device": "cpu", "bs": 32, "epochs": 3, **train}))


class StopAfterFirstSave(Checkpoint):
    """Saves like a checkpoint, then stops the run as Ctrl-C would."""

    def save(self, state):
        super().save(state)
        raise KeyboardInterrupt


@pytest.mark.parametrize("name", ["scratch", "cnn"])
def test_a_resumed_run_ends_with_the_same_model_and_history(tensors, tmp_path, name):
    params = params_with()
    straight = train_variant(name, params, str(tensors))

    first = StopAfterFirstSave(name, lambda: "key", tmp_path)
    with pytest.raises(TrainingInterrupted) as stop:
        train_variant(name, params, str(tensors), first)
    assert (stop.value.epoch, first.saved_epoch) == (1, 1)
    assert first.path.is_file()

    again = Checkpoint(name, lambda: "key", tmp_path)
    resumed = train_variant(name, params, str(tensors), again)
    assert again.saved_epoch == 3
    assert resumed.metadata == straight.metadata  # history and evaluation included
    for key, value in straight.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key


def test_a_checkpoint_of_other_inputs_is_ignored_and_deleted(tensors, tmp_path):
    old = StopAfterFirstSave("logistic", lambda: "old-key", tmp_path)
    with pytest.raises(TrainingInterrupted):
        train_variant("logistic", params_with(), str(tensors), old)
    new = Checkpoint("logistic", lambda: "new-key", tmp_path)
    assert new.load() is None
    assert not old.path.exists()


def test_an_unreadable_checkpoint_is_never_resumed(tmp_path):
    checkpoint = Checkpoint("cnn", lambda: "key", tmp_path)
    checkpoint.path.write_bytes(b"not a checkpoint")
    assert checkpoint.load() is None and not checkpoint.path.exists()


def test_run_key_follows_params_code_and_data(tensors, tmp_path):
    base = {"model": "cnn", "lr": 0.1}
    digest = DataDigest(tensors)
    assert run_key(base, "code", digest) == run_key(dict(base), "code", DataDigest(tensors))
    assert run_key({**base, "lr": 0.2}, "code", digest) != run_key(base, "code", digest)
    assert run_key(base, "other code", digest) != run_key(base, "code", digest)
    changed = tmp_path / "changed"
    changed.mkdir()
    for path in tensors.iterdir():
        (changed / path.name).write_bytes(path.read_bytes())
    with open(changed / "valid.safetensors", "r+b") as f:  # one byte of the data, not header
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 1]))
    assert run_key(base, "code", DataDigest(changed)) != run_key(base, "code", digest)


def test_a_diverging_loss_stops_with_the_epoch_and_step(tiny_splits):
    torch.manual_seed(0)
    model, opt = get_model("scratch", 1e6, 0.0)
    train = TensorBatches(torch.from_numpy(tiny_splits["train"].x),
                          torch.from_numpy(tiny_splits["train"].y), 16)
    valid = TensorBatches(torch.from_numpy(tiny_splits["valid"].x),
                          torch.from_numpy(tiny_splits["valid"].y), 32)
    saved = []
    with pytest.raises(DivergenceError, match=r"the loss became (nan|inf) in epoch 1 at step \d+"):
        fit(2, model, VARIANTS["scratch"].loss_func, opt, train, valid,
            on_epoch_end=saved.append)
    assert saved == []  # nothing recorded for a diverged epoch


class StopAtStep:
    """Batches that deliver Ctrl-C at a given step, as the signal handler would."""

    def __init__(self, batches, step):
        self.batches, self.step = batches, step

    def __iter__(self):
        for step, batch in enumerate(self.batches, 1):
            if step == self.step:
                raise KeyboardInterrupt
            yield batch


def test_an_interruption_says_where_training_stopped(tiny_splits):
    torch.manual_seed(0)
    model, opt = get_model("logistic", 0.5, 0.0)
    loss_func = VARIANTS["logistic"].loss_func
    data = [torch.from_numpy(a) for a in (tiny_splits["train"].x, tiny_splits["train"].y)]
    valid = TensorBatches(*data, 64)
    history = fit(1, model, loss_func, opt, TensorBatches(*data, 64), valid)
    with pytest.raises(TrainingInterrupted, match="interrupted in epoch 2 after step 4"):
        fit(3, model, loss_func, opt, StopAtStep(TensorBatches(*data, 64), 5), valid,
            history=history)


def test_an_orphaned_stage_writes_no_model_and_the_next_run_finishes_from_its_checkpoint(
        tensors, tmp_path, monkeypatch, caplog):
    from mnist_pipeline import cli
    from mnist_pipeline.cli import Stopped
    from mnist_pipeline.train_stage import train_and_save

    monkeypatch.chdir(tmp_path)
    caplog.set_level("INFO")
    params, weights = params_with(epochs=2), tmp_path / "logistic.safetensors"
    # As if dvc had been killed while the stage trained: its parent is no longer the one
    # stop_with_parent saw at start (whose poll may not have fired yet).
    monkeypatch.setattr(cli, "_watched", ((os.getpid(), -1),))
    with pytest.raises(Stopped):
        train_and_save("logistic", params, str(tensors), str(weights))
    assert not weights.exists()
    assert "no model written; epochs 1-2 are saved" in caplog.text

    monkeypatch.setattr(cli, "_watched", ())
    caplog.clear()
    train_and_save("logistic", params, str(tensors), str(weights))
    assert "resuming after epoch 2/2" in caplog.text
    assert not (tmp_path / ".checkpoints").exists()
    straight = tmp_path / "straight.safetensors"
    train_and_save("logistic", params, str(tensors), str(straight))
    assert weights.read_bytes() == straight.read_bytes()
