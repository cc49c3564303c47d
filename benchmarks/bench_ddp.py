"""Epoch time with one process vs two ranks (torchrun + gloo), and the cost of one all-reduce.

The same training loop (``fit`` with the ranks' batch parts and, for two ranks, DDP's
gradient average) on MNIST-sized generated data, run as the train stage runs it: one
process with torch's default threads, then ``torchrun --standalone --nproc-per-node 2`` (each
rank gets ``OMP_NUM_THREADS=1``, torchrun's default). Rank 0 prints each epoch's time and, after
training, the time of one all-reduce of a buffer as large as the model's gradients: what every
step pays on top of its math with two ranks. lr, momentum and bs are the project's
``params.yaml``. Each side reports the median of its epochs after the first (which also pays
for connecting the ranks and DDP's first bucket set-up), and the two sides take turns going
first from one model to the next.

    python benchmarks/bench_ddp.py [--models cnn logistic] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from common import ROOT, dataset, machine, median


def worker(name: str, epochs: int, out: str) -> None:
    """One rank (or the only process): train ``name`` for ``epochs`` epochs, time them."""
    import torch
    from torch.utils.data import TensorDataset

    from mnist_pipeline.core.params import load_params
    from mnist_pipeline.core.tensor_files import load_split
    from mnist_pipeline.train.batches import get_batches
    from mnist_pipeline.train.devices import fastest_layout
    from mnist_pipeline.train.monitor import Monitor, batch_rows
    from mnist_pipeline.train.ranks import disconnect, parallel, ranks_from_environment
    from mnist_pipeline.tutorial.data import WrappedDataLoader
    from mnist_pipeline.tutorial.fit import fit
    from mnist_pipeline.variants import VARIANTS, get_model

    ranks, device = ranks_from_environment(), torch.device("cpu")
    if ranks.world > 1:  # no inputs to compare here: the same script and data on one machine
        torch.distributed.init_process_group("gloo")
    _, tensors = dataset()
    train, valid = load_split(tensors, "train"), load_split(tensors, "valid")
    spec, params = VARIANTS[name], load_params(ROOT / "params.yaml")
    hyper, bs = params.model(name), params.train.bs
    torch.manual_seed(0)
    shuffle = torch.Generator().manual_seed(0)
    train_dl, valid_dl = get_batches(TensorDataset(*train), TensorDataset(*valid), bs,
                                  shuffle, ranks.rank, ranks.world)
    if spec.reshape_batches is not None:
        train_dl = WrappedDataLoader(train_dl, spec.reshape_batches)
        valid_dl = WrappedDataLoader(valid_dl, spec.reshape_batches)
    model, opt = get_model(name, hyper.lr, hyper.momentum, device)
    fastest_layout(model, device)
    model = parallel(model, ranks)
    marks = [time.perf_counter()]
    monitor = Monitor(model, valid_dl, ranks,
                      rows_of=(lambda step: batch_rows(step, bs, len(train[1])))
                      if ranks.world > 1 else None,
                      on_epoch_end=lambda history: marks.append(time.perf_counter()))
    fit(epochs, model, spec.loss_func, opt, train_dl, valid_dl, callbacks=monitor)
    epoch_s = [after - before for before, after in zip(marks, marks[1:], strict=False)]

    allreduce_us = None
    if ranks.world > 1:
        numel = sum(p.numel() for p in model.parameters())
        buffer = torch.zeros(numel)
        for _ in range(20):
            torch.distributed.all_reduce(buffer)
        start = time.perf_counter()
        for _ in range(200):
            torch.distributed.all_reduce(buffer)
        allreduce_us = (time.perf_counter() - start) / 200 * 1e6
    if ranks.is_main:
        with open(out, "w") as f:
            json.dump({"epoch_s": epoch_s, "allreduce_us": allreduce_us,
                       "steps": len(train_dl), "threads": torch.get_num_threads()}, f)
    disconnect()


def launch(name: str, epochs: int, nproc: int, out: str) -> dict:
    script = [str(ROOT / "benchmarks" / "bench_ddp.py"), "--worker", name, "--epochs",
              str(epochs), "--out", out]
    if nproc == 1:
        command = [sys.executable, *script]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc-per-node={nproc}", *script]
    subprocess.run(command, check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    with open(out) as f:
        return json.load(f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["cnn", "logistic"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.epochs, args.out)
        return

    dataset()  # written once, before any timing
    print(f"epoch time, median of epochs 2-{args.epochs}; {machine()}")
    print(f"{'model':<10}{'1 process s':>12}{'2 ranks s':>11}{'ratio':>8}"
          f"{'all-reduce us':>15}{'x steps = s':>13}")
    out = str(ROOT / "benchmarks" / "out" / "ddp.json")
    for turn, name in enumerate(args.models):
        order = (1, 2) if turn % 2 == 0 else (2, 1)
        runs = {nproc: launch(name, args.epochs, nproc, out) for nproc in order}
        one, two = runs[1], runs[2]
        one_s, two_s = (median(run["epoch_s"][1:] or run["epoch_s"]) for run in (one, two))
        comm_s = two["allreduce_us"] * two["steps"] / 1e6
        print(f"{name:<10}{one_s:>12.2f}{two_s:>11.2f}{one_s / two_s:>7.2f}x"
              f"{two['allreduce_us']:>15.0f}{comm_s:>13.2f}", flush=True)
    print("1 process uses torch's default threads (one per core); each of 2 ranks gets 1 "
          "thread (torchrun's OMP_NUM_THREADS=1). 'x steps' is the all-reduce cost of an "
          "epoch's steps.")


if __name__ == "__main__":
    main()
