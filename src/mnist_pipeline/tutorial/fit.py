"""Section "Create fit() and get_data()": ``loss_batch`` and ``fit``, as the tutorial writes them.

``fit`` takes one more argument, ``callbacks``: an object whose ``after_batch(loss, num)`` runs
after each training step and ``after_epoch(epoch, val_loss)`` after each validation, in place of
the tutorial's ``print(epoch, val_loss)`` (which stays the default).
"""

import numpy as np
import torch


def loss_batch(model, loss_func, xb, yb, opt=None):
    loss = loss_func(model(xb), yb)

    if opt is not None:
        loss.backward()
        opt.step()
        opt.zero_grad()

    return loss.item(), len(xb)


def fit(epochs, model, loss_func, opt, train_dl, valid_dl, callbacks=None):
    for epoch in range(epochs):
        model.train()
        for xb, yb in train_dl:
            loss, num = loss_batch(model, loss_func, xb, yb, opt)
            if callbacks is not None:
                callbacks.after_batch(loss, num)

        model.eval()
        with torch.no_grad():
            losses, nums = zip(
                *[loss_batch(model, loss_func, xb, yb) for xb, yb in valid_dl]
            )
        val_loss = np.sum(np.multiply(losses, nums)) / np.sum(nums)

        if callbacks is None:
            print(epoch, val_loss)
        else:
            callbacks.after_epoch(epoch, val_loss)
