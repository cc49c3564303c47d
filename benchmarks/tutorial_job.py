"""The tutorial's code for the pipeline's whole job, as one Python process: the reference.

What a reader of "What is torch.nn really?" runs to get the five models this pipeline trains:
load ``mnist.pkl.gz`` with ``pickle``, train the hand-written model with the first loop (in-order
slices, the manual update), then ``Mnist_Logistic``, ``Mnist_CNN``, the ``nn.Sequential`` CNN and
the ``AdaptiveAvgPool2d`` CNN with the final ``get_data`` (``DataLoader(shuffle=True)``) and
``fit``, each for ``epochs`` epochs, printing the validation loss after every epoch as the
tutorial does. The tutorial's functions and models are the project's ``mnist_pipeline.tutorial``
(its code, verbatim); the first hand-written loop and the order of the sections are here. On
``--device`` every model trains there, each batch moved with the ``.to(dev)`` of the tutorial's
last section (a no-op on the CPU).

    python benchmarks/tutorial_job.py path/to/mnist.pkl.gz [--epochs 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import gzip
import math
import pickle

import torch
import torch.nn.functional as F
from torch import optim
from torch.utils.data import TensorDataset

from mnist_pipeline.tutorial.data import WrappedDataLoader, get_data
from mnist_pipeline.tutorial.fit import fit
from mnist_pipeline.tutorial.models import Mnist_CNN, Mnist_Logistic, adaptive_cnn, sequential_cnn
from mnist_pipeline.tutorial.scratch import log_softmax, nll


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

    model = sequential_cnn().to(dev)
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    fit(epochs, model, loss_func, opt, train_dl, valid_dl)

    # "Wrapping DataLoader" and "Using your GPU".
    train_dl, valid_dl = get_data(train_ds, valid_ds, bs)
    train_dl = WrappedDataLoader(train_dl, preprocess)
    valid_dl = WrappedDataLoader(valid_dl, preprocess)
    model = adaptive_cnn()
    model.to(dev)
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    fit(epochs, model, loss_func, opt, train_dl, valid_dl)


if __name__ == "__main__":
    main()
