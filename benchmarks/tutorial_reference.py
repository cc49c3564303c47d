"""The tutorial's own training loops, one epoch at a time: the reference the benchmarks beat.

``fit_epoch`` is one epoch of the tutorial's final ``fit`` (``loss_batch`` and ``WrappedDataLoader``
are ``mnist_pipeline.tutorial``'s, ``scratch_loop`` ``tutorial_job``'s); ``get_data``
adds a seedable generator so both sides of a comparison can draw the same order;
``scratch_epoch`` is its first hand-written loop over in-order slices.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from mnist_pipeline.tutorial.data import WrappedDataLoader
from mnist_pipeline.tutorial.fit import loss_batch

from tutorial_job import scratch_loop


def fit_epoch(model, loss_func, opt, train_dl, valid_dl) -> float:
    """One epoch of the tutorial's ``fit``; returns the validation loss it prints."""
    model.train()
    for xb, yb in train_dl:
        loss_batch(model, loss_func, xb, yb, opt)
    model.eval()
    with torch.no_grad():
        losses, nums = zip(*[loss_batch(model, loss_func, xb, yb) for xb, yb in valid_dl])
    return float(np.sum(np.multiply(losses, nums)) / np.sum(nums))


def get_data(train_ds, valid_ds, bs, generator=None):
    return (
        DataLoader(train_ds, batch_size=bs, shuffle=True, generator=generator),
        DataLoader(valid_ds, batch_size=bs * 2),
    )


def loaders(train, valid, bs, preprocess=None, device=None, generator=None):
    """The tutorial's loaders; on a GPU, its ``preprocess`` moves every batch with ``.to(dev)``."""
    train_dl, valid_dl = get_data(TensorDataset(*train), TensorDataset(*valid), bs, generator)

    def move(x, y):
        if preprocess is not None:
            x, y = preprocess(x, y)
        return (x.to(device), y.to(device)) if device is not None else (x, y)

    if preprocess is not None or device is not None:
        train_dl, valid_dl = WrappedDataLoader(train_dl, move), WrappedDataLoader(valid_dl, move)
    return train_dl, valid_dl


def scratch_epoch(model, loss_func, lr, x_train, y_train, x_valid, y_valid, bs) -> float:
    """The tutorial's first loop (in-order slices, manual update), then a validation pass."""
    scratch_loop(model, loss_func, model.weights, model.bias, lr, x_train, y_train, bs)
    with torch.no_grad():
        total = sum(loss_func(model(x_valid[i:i + bs * 2]), y_valid[i:i + bs * 2]).item()
                    * len(y_valid[i:i + bs * 2]) for i in range(0, len(x_valid), bs * 2))
    return total / len(x_valid)
