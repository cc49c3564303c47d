"""How an epoch's cost grows: with training-set size (10k / 25k / 50k) and batch size (32 / 64 /
256), for this project's loop. Per-sample cost that stays flat as data grows means linear
growth; per-step cost that stays flat as batches grow means per-step overhead dominates.

    python benchmarks/bench_growth.py [--models logistic cnn] [--epochs 2]
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.data import TensorDataset

from mnist_pipeline.core.tensor_files import load_split
from mnist_pipeline.train.batches import get_batches
from mnist_pipeline.train.devices import fastest_layout
from mnist_pipeline.tutorial.fit import loss_batch
from mnist_pipeline.variants import VARIANTS, get_model

from common import Timer, dataset, machine, median

HYPER = {"scratch": (0.5, 0.0), "logistic": (0.5, 0.0)}


def epoch_seconds(name, train, valid, bs, epochs) -> float:
    lr, momentum = HYPER.get(name, (0.1, 0.9))
    torch.manual_seed(0)
    model, opt = get_model(name, lr, momentum)
    fastest_layout(model, torch.device("cpu"))
    train_dl, _ = get_batches(TensorDataset(*train), TensorDataset(*valid), bs,
                           torch.Generator().manual_seed(0))
    times = []
    for _ in range(epochs):
        with Timer() as t:  # the training half of the tutorial's fit
            model.train()
            for xb, yb in train_dl:
                loss_batch(model, VARIANTS[name].loss_func, xb, yb, opt)
        times.append(t.seconds)
    return median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["logistic", "cnn"])
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()

    _, tensors = dataset()
    x, y = load_split(tensors, "train")
    valid = load_split(tensors, "valid")
    print(f"training epoch (no validation), median of {args.epochs}; {machine()}")
    print(f"{'model':<10}{'samples':>8}{'bs':>5}{'epoch s':>9}{'µs/sample':>11}{'µs/step':>9}")
    for name in args.models:
        grid = [(n, 64) for n in (10_000, 25_000, 50_000)] + [(50_000, 32), (50_000, 256)]
        for n, bs in grid:
            seconds = epoch_seconds(name, (x[:n], y[:n]), valid, bs, args.epochs)
            steps = -(-n // bs)
            print(f"{name:<10}{n:>8}{bs:>5}{seconds:>9.3f}{seconds / n * 1e6:>11.1f}"
                  f"{seconds / steps * 1e6:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
