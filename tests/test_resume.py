"""Checkpoints, resume, divergence and interruption of the training loop (in-process, CPU)."""

import psutil
import pytest
import torch
from torch.utils.data import TensorDataset

from mnist_pipeline.core.params import load_params
from mnist_pipeline.core.tensor_files import save_splits
from mnist_pipeline.train.batches import get_batches
from mnist_pipeline.train.callbacks import DivergenceError, TrainingInterrupted, TrainingRecord
from mnist_pipeline.train.checkpoints import Checkpoint, data_digest, run_key
from mnist_pipeline.train.variant import train_variant
from mnist_pipeline.tutorial.models import VARIANTS, get_model

from conftest import ROOT


@pytest.fixture(scope="module")
def tensors(tiny_splits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tensors")
    save_splits(tiny_splits, folder)
    return folder


def params_with(**train):
    params = load_params(ROOT / "params.yaml")
    return params.model_copy(update={"train": params.train.model_copy(
        update={"device": "cpu", "bs": 32, "epochs": 3, **train})})


def loaders(split, bs):
    data = TensorDataset(torch.from_numpy(split.x), torch.from_numpy(split.y))
    return get_batches(data, data, bs)


class StopAfterFirstSave(Checkpoint):
    """Saves like a checkpoint, then stops the run as Ctrl-C would."""

    def save(self, state):
        super().save(state)
        raise KeyboardInterrupt


@pytest.mark.parametrize("name", ["scratch", "cnn"])
def test_a_resumed_run_ends_with_the_same_model_and_history(tensors, tmp_path, name):
    params = params_with()
    straight = train_variant(name, params, str(tensors))

    first = StopAfterFirstSave(name, "key", tmp_path)
    with pytest.raises(TrainingInterrupted) as stop:
        train_variant(name, params, str(tensors), first)
    assert (stop.value.epoch, first.saved_epoch) == (1, 1)
    assert first.path.is_file()

    again = Checkpoint(name, "key", tmp_path)
    resumed = train_variant(name, params, str(tensors), again)
    assert again.saved_epoch == 3
    assert resumed.record == straight.record  # history and evaluation included
    for key, value in straight.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key


def test_a_checkpoint_of_other_inputs_is_ignored_and_deleted(tensors, tmp_path):
    old = StopAfterFirstSave("logistic", "old-key", tmp_path)
    with pytest.raises(TrainingInterrupted):
        train_variant("logistic", params_with(), str(tensors), old)
    new = Checkpoint("logistic", "new-key", tmp_path)
    assert new.load() is None
    assert not old.path.exists()


def test_an_unreadable_checkpoint_is_never_resumed(tmp_path):
    checkpoint = Checkpoint("cnn", "key", tmp_path)
    checkpoint.path.write_bytes(b"not a checkpoint")
    assert checkpoint.load() is None and not checkpoint.path.exists()


def test_run_key_follows_params_code_and_data(tensors, tmp_path):
    base = {"model": "cnn", "lr": 0.1}
    digest = data_digest(tensors)
    assert run_key(base, "code", digest) == run_key(dict(base), "code", data_digest(tensors))
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
    assert run_key(base, "code", data_digest(changed)) != run_key(base, "code", digest)


def test_a_diverging_loss_stops_with_the_epoch_and_step(tiny_splits):
    torch.manual_seed(0)
    model, opt = get_model("scratch", 1e6, 0.0)
    train, _ = loaders(tiny_splits["train"], 16)
    _, valid = loaders(tiny_splits["valid"], 16)
    saved = []
    with pytest.raises(DivergenceError, match=r"the loss became (nan|inf) in epoch 1 at step \d+"):
        TrainingRecord(on_epoch_end=saved.append).fit(2, model, VARIANTS["scratch"].loss_func,
                                                      opt, train, valid)
    assert saved == []  # nothing recorded for a diverged epoch


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
    train, valid = loaders(tiny_splits["train"], 64)
    history = TrainingRecord().fit(1, model, loss_func, opt, train, valid)
    with pytest.raises(TrainingInterrupted, match="interrupted in epoch 2 after step 4"):
        TrainingRecord(history).fit(3, model, loss_func, opt, StopAtStep(train, 5), valid)


def test_an_orphaned_stage_writes_no_model_and_the_next_run_finishes_from_its_checkpoint(
        tensors, tmp_path, monkeypatch, caplog):
    from mnist_pipeline.core import cli
    from mnist_pipeline.core.cli import Stopped
    from mnist_pipeline.train.stage import train_and_save

    monkeypatch.chdir(tmp_path)
    caplog.set_level("INFO")
    params, weights = params_with(epochs=2), tmp_path / "logistic.safetensors"
    # As if dvc had been killed while the stage trained: its parent is no longer the one
    # stop_with_parent saw at start (whose poll may not have fired yet).
    monkeypatch.setattr(cli, "_watched", [(psutil.Process(), -1)])
    with pytest.raises(Stopped):
        train_and_save("logistic", params, str(tensors), str(weights))
    assert not weights.exists()
    assert "no model written; epochs 1-2 are saved" in caplog.text

    monkeypatch.setattr(cli, "_watched", [])
    caplog.clear()
    train_and_save("logistic", params, str(tensors), str(weights))
    assert "resuming after epoch 2/2" in caplog.text
    assert not (tmp_path / ".checkpoints").exists()
    straight = tmp_path / "straight.safetensors"
    train_and_save("logistic", params, str(tensors), str(straight))
    assert weights.read_bytes() == straight.read_bytes()


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
