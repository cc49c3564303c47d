"""The tutorial's code for the pipeline's whole job, as one Python process: the reference.

What a reader of "What is torch.nn really?" runs to get the five models this pipeline trains:
load ``mnist.pkl.gz`` with ``pickle``, train the hand-written model with the first loop (in-order
slices, the manual update), then ``Mnist_Logistic``, ``Mnist_CNN``, the ``nn.Sequential`` CNN and
the ``AdaptiveAvgPool2d`` CNN with the final ``get_data`` (``DataLoader(shuffle=True)``) and
``fit``, each for ``epochs`` epochs, printing the validation loss after every epoch as the
tutorial does. The code below is the tutorial's, section by section. On ``--device`` every model
trains there, each batch moved with the ``.to(dev)`` of the tutorial's last section (a no-op
on the CPU).

    python benchmarks/tutorial_job.py path/to/mnist.pkl.gz [--epochs 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import gzip
import math
import pickle

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset


def log_softmax(x):
    return x - x.exp().sum(-1).log().unsqueeze(-1)


def nll(input, target):
    return -input[range(target.shape[0]), target].mean()


def train_scratch(x_train, y_train, x_valid, y_valid, bs, lr, epochs, dev):
    """The section "Neural net from scratch", its loop run for ``epochs`` on ``dev``."""
    weights = (torch.randn(784, 10) / math.sqrt(784)).to(dev)
    weights.requires_grad_()
    bias = torch.zeros(10, requires_grad=True, device=dev)

    def model(xb):
        return log_softmax(xb @ weights + bias)

    loss_func = nll
    for _epoch in range(epochs):
        scratch_loop(model, loss_func, weights, bias, lr, x_train, y_train, bs)
        with torch.no_grad():
            print(loss_func(model(x_valid), y_valid))


def scratch_loop(model, loss_func, weights, bias, lr, x_train, y_train, bs):
    """One pass of the section's training loop: in-order slices, the manual update."""
    n = len(x_train)
    for i in range((n - 1) // bs + 1):
        start_i = i * bs
        end_i = start_i + bs
        xb = x_train[start_i:end_i]
        yb = y_train[start_i:end_i]
        pred = model(xb)
        loss = loss_func(pred, yb)

        loss.backward()
        with torch.no_grad():
            weights -= weights.grad * lr
            bias -= bias.grad * lr
            weights.grad.zero_()
            bias.grad.zero_()


class Mnist_Logistic(nn.Module):  # noqa: N801 - the tutorial's name
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(784, 10)

    def forward(self, xb):
        return self.lin(xb)


class Mnist_CNN(nn.Module):  # noqa: N801 - the tutorial's name
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(16, 16, kernel_size=3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(16, 10, kernel_size=3, stride=2, padding=1)

    def forward(self, xb):
        xb = xb.view(-1, 1, 28, 28)
        xb = F.relu(self.conv1(xb))
        xb = F.relu(self.conv2(xb))
        xb = F.relu(self.conv3(xb))
        xb = F.avg_pool2d(xb, 4)
        return xb.view(-1, xb.size(1))


class Lambda(nn.Module):
    def __init__(self, func):
        super().__init__()
        self.func = func

    def forward(self, x):
        return self.func(x)


class WrappedDataLoader:
    def __init__(self, dl, func):
        self.dl = dl
        self.func = func

    def __len__(self):
        return len(self.dl)

    def __iter__(self):
        batches = iter(self.dl)
        for b in batches:
            yield (self.func(*b))


def loss_batch(model, loss_func, xb, yb, opt=None):
    loss = loss_func(model(xb), yb)

    if opt is not None:
        loss.backward()
        opt.step()
        opt.zero_grad()

    return loss.item(), len(xb)


def fit(epochs, model, loss_func, opt, train_dl, valid_dl):
    for epoch in range(epochs):
        model.train()
        for xb, yb in train_dl:
            loss_batch(model, loss_func, xb, yb, opt)

        model.eval()
        with torch.no_grad():
            losses, nums = zip(
                *[loss_batch(model, loss_func, xb, yb) for xb, yb in valid_dl]
            )
        val_loss = np.sum(np.multiply(losses, nums)) / np.sum(nums)

        print(epoch, val_loss)


def get_data(train_ds, valid_ds, bs):
    return (
        DataLoader(train_ds, batch_size=bs, shuffle=True),
        DataLoader(valid_ds, batch_size=bs * 2),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pickle", help="mnist.pkl.gz")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    epochs, bs = args.epochs, 64
    dev = torch.device(args.device)
    torch.manual_seed(0)

    with gzip.open(args.pickle, "rb") as f:
        ((x_train, y_train), (x_valid, y_valid), _) = pickle.load(f, encoding="latin-1")
    x_train, y_train, x_valid, y_valid = map(
        torch.tensor, (x_train, y_train, x_valid, y_valid)
    )

    # "Neural net from scratch".
    train_scratch(*(t.to(dev) for t in (x_train, y_train, x_valid, y_valid)), bs, lr=0.5,
                  epochs=epochs, dev=dev)

    # "Refactor using optim" / "Refactor using Dataset" / "Create fit() and get_data()".
    loss_func = F.cross_entropy
    train_ds = TensorDataset(x_train, y_train)
    valid_ds = TensorDataset(x_valid, y_valid)

    def preprocess(x, y):
        return x.view(-1, 1, 28, 28).to(dev), y.to(dev)

    def to_dev(x, y):
        return x.to(dev), y.to(dev)

    lr = 0.5
    train_dl, valid_dl = get_data(train_ds, valid_ds, bs)
    train_dl, valid_dl = WrappedDataLoader(train_dl, to_dev), WrappedDataLoader(valid_dl, to_dev)
    model = Mnist_Logistic().to(dev)
    opt = optim.SGD(model.parameters(), lr=lr)
    fit(epochs, model, loss_func, opt, train_dl, valid_dl)

    # "Switch to CNN" and "nn.Sequential".
    lr = 0.1
    model = Mnist_CNN().to(dev)
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    fit(epochs, model, loss_func, opt, train_dl, valid_dl)

    model = nn.Sequential(
        Lambda(lambda x: x.view(-1, 1, 28, 28)),
        nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 10, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.AvgPool2d(4),
        Lambda(lambda x: x.view(x.size(0), -1)),
    ).to(dev)
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    fit(epochs, model, loss_func, opt, train_dl, valid_dl)

    # "Wrapping DataLoader" and "Using your GPU".
    train_dl, valid_dl = get_data(train_ds, valid_ds, bs)
    train_dl = WrappedDataLoader(train_dl, preprocess)
    valid_dl = WrappedDataLoader(valid_dl, preprocess)
    model = nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 10, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        Lambda(lambda x: x.view(x.size(0), -1)),
    )
    model.to(dev)
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    fit(epochs, model, loss_func, opt, train_dl, valid_dl)


if __name__ == "__main__":
    main()
