"""The tutorial's fit and loss_batch, alone and with the train stage's Monitor as callbacks."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from mnist_pipeline.evaluate.scoring import score
from mnist_pipeline.train.batches import get_batches, predict
from mnist_pipeline.train.monitor import Monitor
from mnist_pipeline.tutorial.data import get_data
from mnist_pipeline.tutorial.fit import fit, loss_batch
from mnist_pipeline.variants import VARIANTS, get_model


def loaders(tiny_splits, bs=16, seed=0):
    train, valid = (TensorDataset(torch.from_numpy(tiny_splits[s].x),
                                  torch.from_numpy(tiny_splits[s].y)) for s in ("train", "valid"))
    return get_batches(train, valid, bs, torch.Generator().manual_seed(seed))


def monitored_fit(epochs, model, loss_func, opt, train_dl, valid_dl, monitor_class=Monitor):
    """``fit`` with a Monitor as its callbacks, as the train stage runs it."""
    monitor = monitor_class(model, valid_dl)
    fit(epochs, model, loss_func, opt, train_dl, valid_dl, callbacks=monitor)
    return monitor


def test_the_tutorials_three_lines_train_and_print_each_epochs_validation_loss(
        tiny_splits, capsys):
    train_ds, valid_ds = (TensorDataset(torch.from_numpy(tiny_splits[s].x),
                                        torch.from_numpy(tiny_splits[s].y))
                          for s in ("train", "valid"))
    train_dl, valid_dl = get_data(train_ds, valid_ds, 16)  # the tutorial's, sample by sample
    torch.manual_seed(0)
    model, opt = get_model("logistic", lr=0.5, momentum=0.0)
    start = score(F.cross_entropy, *predict(model, valid_dl))["loss"]
    fit(2, model, F.cross_entropy, opt, train_dl, valid_dl)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["0", "1"]
    assert float(lines[1].split()[1]) < start / 2


@pytest.mark.parametrize("name", ["scratch", "logistic"])
def test_the_monitor_keeps_every_epoch_and_the_model_learns(tiny_splits, name):
    # The CNNs need a few hundred steps to leave their initial plateau; the end-to-end run
    # checks that they learn. The linear models learn within a few dozen.
    torch.manual_seed(0)
    model, opt = get_model(name, 0.5, 0.0)
    loss_func = VARIANTS[name].loss_func
    train_dl, valid_dl = loaders(tiny_splits)
    start = score(loss_func, *predict(model, valid_dl))
    history = monitored_fit(3, model, loss_func, opt, train_dl, valid_dl).history
    assert [r.epoch for r in history] == [1, 2, 3]
    assert all(math.isfinite(r.train_loss) for r in history)
    assert history[-1].valid_loss < start["loss"] / 2
    assert history[-1].valid_accuracy > max(0.5, start["accuracy"])
    # Validation loss and accuracy are the whole split's.
    final = score(loss_func, *predict(model, valid_dl))
    assert history[-1].valid_loss == pytest.approx(final["loss"], abs=1e-5)
    assert history[-1].valid_accuracy == pytest.approx(final["accuracy"], abs=1e-6)


def test_the_monitors_training_loss_is_the_epochs_sample_weighted_mean(tiny_splits):
    train_dl, valid_dl = loaders(tiny_splits, bs=100)  # 640 rows: six of 100, a tail of 40
    seen = []

    class Watched(Monitor):
        def after_batch(self, loss, num):
            seen.append((loss, num))
            super().after_batch(loss, num)

    torch.manual_seed(0)
    model, opt = get_model("logistic", 0.5, 0.0)
    (epoch,) = monitored_fit(1, model, F.cross_entropy, opt, train_dl, valid_dl,
                             Watched).history
    assert [num for _, num in seen] == [100] * 6 + [40]
    assert epoch.train_loss == pytest.approx(sum(loss * n for loss, n in seen) / 640, rel=1e-12)


def test_loss_batch_without_optimizer_changes_nothing():
    torch.manual_seed(0)
    model, _ = get_model("logistic", 0.5, 0.0)
    before = model.lin.weight.detach().clone()
    loss, n = loss_batch(model, F.cross_entropy, torch.rand(4, 784), torch.tensor([0, 1, 2, 3]))
    assert n == 4 and isinstance(loss, float) and loss > 0
    assert torch.equal(model.lin.weight, before)
