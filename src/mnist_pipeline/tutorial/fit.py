"""Section "Create fit() and get_data()": ``loss_batch`` and ``fit``, as the tutorial writes them.

``fit`` also takes ``callbacks``, called at three points of its loop; the defaults are the
tutorial's own (``print(epoch, val_loss)``), the train stage's are ``train.callbacks``.
"""

import numpy as np
import torch


class Callbacks:
    """Where ``fit`` lets a caller in; these defaults are the tutorial's own loop."""

    def epochs(self, epochs):
        return range(epochs)

    def after_batch(self, loss, num):
        pass

    def after_epoch(self, epoch, val_loss):
        print(epoch, val_loss)


def loss_batch(model, loss_func, xb, yb, opt=None):
    loss = loss_func(model(xb), yb)

    if opt is not None:
        loss.backward()
        opt.step()
        opt.zero_grad()

    return loss.item(), len(xb)


def fit(epochs, model, loss_func, opt, train_dl, valid_dl, callbacks=None):
    callbacks = callbacks or Callbacks()
    for epoch in callbacks.epochs(epochs):
        model.train()
        for xb, yb in train_dl:
            callbacks.after_batch(*loss_batch(model, loss_func, xb, yb, opt))

        model.eval()
        with torch.no_grad():
            losses, nums = zip(
                *[loss_batch(model, loss_func, xb, yb) for xb, yb in valid_dl]
            )
        val_loss = np.sum(np.multiply(losses, nums)) / np.sum(nums)

        callbacks.after_epoch(epoch, val_loss)
