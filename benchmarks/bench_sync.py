"""What the tutorial's per-step ``loss.item()`` costs: the same training steps on the device with
``loss_batch`` as the tutorial writes it (the loss copied to the host at every step, a sync) and
without that copy (the loss kept on the device until the end), the two alternating. The call is
the tutorial's and stays; this says what it costs per step on a GPU (on the CPU, nothing).

    python benchmarks/bench_sync.py [--device cuda] [--steps 500] [--models cnn logistic]
"""

from __future__ import annotations

import argparse

import torch

from mnist_pipeline.core.tensor_files import load_split
from mnist_pipeline.tutorial.fit import loss_batch
from mnist_pipeline.variants import VARIANTS, get_model

from common import Timer, dataset, machine, median


def steps(name: str, x: torch.Tensor, y: torch.Tensor, count: int, bs: int, item: bool) -> None:
    variant = VARIANTS[name]
    model, opt = get_model(name, 0.1, 0.0, x.device)
    total = torch.zeros((), device=x.device)
    for step in range(count):
        first = (step * bs) % (len(y) - bs)
        xb, yb = x[first:first + bs], y[first:first + bs]
        if variant.reshape_batches is not None:
            xb, yb = variant.reshape_batches(xb, yb)
        if item:
            loss_batch(model, variant.loss_func, xb, yb, opt)  # the tutorial's, .item() in it
        else:
            loss = variant.loss_func(model(xb), yb)
            loss.backward()
            opt.step()
            opt.zero_grad()
            total += loss.detach()
    total.item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bs", type=int, default=64)
    parser.add_argument("--models", nargs="+", default=["cnn", "logistic"])
    args = parser.parse_args()
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    _, tensors = dataset()
    x, y = load_split(tensors, "train", str(device))
    print(f"{args.steps} training steps, bs {args.bs}, device {device}, median of {args.runs}; "
          f"{machine()}")
    for name in args.models:
        times: dict[bool, list[float]] = {True: [], False: []}
        steps(name, x, y, 20, args.bs, True)  # warm-up: kernels chosen, memory allocated
        for _ in range(args.runs):
            for item in (True, False):
                with Timer(sync) as t:
                    steps(name, x, y, args.steps, args.bs, item)
                times[item].append(t.seconds / args.steps * 1e6)
        with_item, without = median(times[True]), median(times[False])
        print(f"{name:<10} {with_item:8.1f} us a step with loss.item(), {without:8.1f} without: "
              f"{with_item - without:+.1f} us ({(with_item - without) / with_item:+.0%})")


if __name__ == "__main__":
    main()
