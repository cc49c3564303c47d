"""The training loop, device selection, weight files and the evaluation's numbers."""

import math

import numpy as np
import pytest
import torch

from mnist_pipeline.batches import TensorBatches
from mnist_pipeline.devices import DeviceError, resolve_device
from mnist_pipeline.evaluation import most_wrong, per_class_accuracy
from mnist_pipeline.models import VARIANTS, get_model
from mnist_pipeline.provenance import read_metadata
from mnist_pipeline.training import fit, loss_batch, predict, score
from mnist_pipeline.weights import load_weights, save_weights


def tensors(split):
    return torch.from_numpy(split.x), torch.from_numpy(split.y)


@pytest.mark.parametrize("name", ["scratch", "logistic"])
def test_fit_records_every_epoch_and_learns(tiny_splits, name):
    # The CNNs need a few hundred steps to leave their initial plateau; the end-to-end run
    # checks that they learn. The linear models learn within a few dozen.
    torch.manual_seed(0)
    model, opt = get_model(name, 0.5, 0.0)
    loss_func = VARIANTS[name].loss_func
    train_dl = TensorBatches(*tensors(tiny_splits["train"]), 16, shuffle=True,
                             generator=torch.Generator().manual_seed(0))
    valid_dl = TensorBatches(*tensors(tiny_splits["valid"]), 32)
    start_loss, start_accuracy = score(loss_func, *predict(model, valid_dl))
    history = fit(3, model, loss_func, opt, train_dl, valid_dl)
    assert [r.epoch for r in history] == [1, 2, 3]
    assert all(math.isfinite(r.train_loss) for r in history)
    assert history[-1].valid_loss < start_loss / 2
    assert history[-1].valid_accuracy > max(0.5, start_accuracy)


def test_loss_batch_without_optimizer_changes_nothing():
    torch.manual_seed(0)
    model, _ = get_model("logistic", 0.5, 0.0)
    before = model.lin.weight.detach().clone()
    loss, n = loss_batch(model, torch.nn.functional.cross_entropy, torch.rand(4, 784),
                         torch.tensor([0, 1, 2, 3]))
    assert n == 4 and loss.ndim == 0
    assert torch.equal(model.lin.weight, before)


def test_score_on_known_outputs():
    outputs = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [2.0, 0.0]])
    targets = torch.tensor([0, 1, 1, 1])
    loss, accuracy = score(torch.nn.functional.cross_entropy, outputs, targets)
    assert accuracy == 0.5
    expected = (2 * math.log(1 + math.exp(-2)) + 2 * math.log(1 + math.exp(2))) / 4
    assert loss == pytest.approx(expected, rel=1e-6)


def test_per_class_accuracy_counts_each_label():
    predicted = torch.tensor([0, 0, 1, 2, 2])
    targets = torch.tensor([0, 1, 1, 2, 3])
    expected = {"0": 1.0, "1": 0.5, "2": 1.0, "3": 0.0} | {str(d): None for d in range(4, 10)}
    assert per_class_accuracy(predicted, targets) == expected


def test_most_wrong_picks_the_highest_loss_samples_worst_first():
    targets = np.array([0, 1, 2, 3])
    log_probs = np.log(np.full((4, 10), 0.05))
    log_probs[0, 0], log_probs[1, 5], log_probs[2, 2], log_probs[3, 7] = -0.01, -0.1, -0.2, -0.3
    log_probs[1, 1], log_probs[3, 3] = np.log(0.01), np.log(0.001)
    assert most_wrong(log_probs, targets, count=2).tolist() == [3, 1]


def test_auto_device_falls_back_to_cpu_and_explicit_missing_device_fails(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("mnist_pipeline.devices._mps_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(DeviceError, match="'cuda' but CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(DeviceError, match="'cuda:1'"):
        resolve_device("cuda:1")
    with pytest.raises(DeviceError, match="MPS is not available"):
        resolve_device("mps")


def test_auto_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr("mnist_pipeline.devices._mps_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


@pytest.mark.parametrize("name", ["scratch", "sequential"])
def test_weights_round_trip_with_metadata(tmp_path, name):
    torch.manual_seed(0)
    model, _ = get_model(name, 0.1, 0.0)
    path = tmp_path / f"{name}.safetensors"
    save_weights(path, model, {"model": name, "device": "cpu", "epochs": 2})
    loaded, metadata = load_weights(name, path)
    assert metadata == {"model": name, "device": "cpu", "epochs": 2}
    assert read_metadata(path)["model"] == name
    # The same metadata in another order gives the same bytes.
    again = tmp_path / "again.safetensors"
    save_weights(again, model, {"epochs": 2, "device": "cpu", "model": name})
    assert again.read_bytes() == path.read_bytes()
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    with pytest.raises(Exception, match=f"holds model '{name}', not 'cnn'"):
        load_weights("cnn", path)
