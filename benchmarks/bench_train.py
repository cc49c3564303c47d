"""Train-epoch speed of every variant: this project's loop vs the tutorial's own loop.

Both sides train the same model from the same initial weights with the same math; only the
batch feeding and bookkeeping differ. Epochs alternate between the two sides and the median of
``--epochs`` epochs each is reported, with both sides' validation loss after their last epoch.

    python benchmarks/bench_train.py [--epochs 3] [--device cpu] [--models cnn logistic]
"""

from __future__ import annotations

import argparse
import json

import torch
from torch.utils.data import TensorDataset

from mnist_pipeline.core.tensor_files import load_split
from mnist_pipeline.train.batches import get_batches
from mnist_pipeline.train.devices import fastest_layout
from mnist_pipeline.train.monitor import Monitor
from mnist_pipeline.train.progress import Progress
from mnist_pipeline.train.training import Callbacks
from mnist_pipeline.tutorial.data import WrappedDataLoader
from mnist_pipeline.tutorial.fit import fit
from mnist_pipeline.variants import VARIANTS, get_model

import tutorial_reference as ref
from common import OUT, Timer, dataset, machine, median

TUTORIAL_HYPER = {"scratch": (0.5, 0.0), "logistic": (0.5, 0.0)}  # the rest: lr 0.1, momentum 0.9
TARGETS = {"scratch": 1.0, "logistic": 3.0, "cnn": 1.35, "sequential": 1.35, "adaptive": 1.35}
GPU_TARGET = 3.0  # every model, against the tutorial's GPU loop (batches copied to the device)


def bench_variant(name, data_cpu, data_dev, device, bs, epochs, seed=0) -> dict:
    lr, momentum = TUTORIAL_HYPER.get(name, (0.1, 0.9))
    spec = VARIANTS[name]
    sync = torch.cuda.synchronize if device.type == "cuda" else None

    # The tutorial's side builds the model as the tutorial does (no memory-layout tuning) and
    # uses optim.SGD; the scratch loop updates its weights inline, as the tutorial writes it.
    # Ours is what the train stage runs: the tutorial's fit with the stage's Monitor as its
    # callbacks (its extra pass over the validation batches included).
    torch.manual_seed(seed)
    ref_model = spec.model().to(device)
    ref_opt = torch.optim.SGD(ref_model.parameters(), lr=lr, momentum=momentum)
    torch.manual_seed(seed)
    our_model, our_opt = get_model(name, lr, momentum, device)
    fastest_layout(our_model, device)
    train_dl, valid_dl = get_batches(*(TensorDataset(*pair) for pair in data_dev), bs,
                                  torch.Generator().manual_seed(seed))
    if spec.reshape_batches is not None:
        train_dl = WrappedDataLoader(train_dl, spec.reshape_batches)
        valid_dl = WrappedDataLoader(valid_dl, spec.reshape_batches)
    monitor = Monitor(our_model, valid_dl)
    watched = Callbacks((Progress(epochs, len(train_dl), show=False), monitor))
    ref_train, ref_valid = ref.loaders(*data_cpu, bs, spec.reshape_batches,
                                       device if device.type != "cpu" else None,
                                       torch.Generator().manual_seed(seed))
    ref_times, our_times = [], []
    for _ in range(epochs):
        with Timer(sync) as t:
            if name == "scratch":
                ref_loss = ref.scratch_epoch(ref_model, spec.loss_func, lr, *data_dev[0],
                                             *data_dev[1], bs)
            else:
                ref_loss = ref.fit_epoch(ref_model, spec.loss_func, ref_opt, ref_train, ref_valid)
        ref_times.append(t.seconds)
        with Timer(sync) as t:  # one more epoch of the same run
            fit(1, our_model, spec.loss_func, our_opt, train_dl, valid_dl, callbacks=watched)
        our_loss = monitor.history[-1].valid_loss
        our_times.append(t.seconds)
    ref_s, our_s = median(ref_times), median(our_times)
    return {"model": name, "tutorial_s": ref_s, "ours_s": our_s, "speedup": ref_s / our_s,
            "target": GPU_TARGET if device.type == "cuda" else TARGETS[name],
            "tutorial_valid_loss": ref_loss, "ours_valid_loss": our_loss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bs", type=int, default=64)
    parser.add_argument("--models", nargs="+", default=list(VARIANTS))
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    device = torch.device(args.device)
    _, tensors = dataset()
    data_cpu = [load_split(tensors, split) for split in ("train", "valid")]
    data_dev = [tuple(t.to(device) for t in pair) for pair in data_cpu]
    print(f"train epoch, median of {args.epochs}, device {device}; {machine()}")
    if device.type == "cuda":
        print(f"GPU: {torch.cuda.get_device_name(device)}")
    print(f"{'model':<11}{'tutorial s':>11}{'ours s':>9}{'speedup':>9}{'target':>8}"
          f"{'valid loss (tutorial / ours)':>31}")
    results = []
    for name in args.models:
        r = bench_variant(name, data_cpu, data_dev, device, args.bs, args.epochs)
        results.append(r)
        ok = "ok" if r["speedup"] >= r["target"] else "MISSED"
        print(f"{name:<11}{r['tutorial_s']:>11.3f}{r['ours_s']:>9.3f}{r['speedup']:>8.2f}x"
              f"{r['target']:>7.2f}x {r['tutorial_valid_loss']:>14.4f} / {r['ours_valid_loss']:.4f}"
              f"  {ok}", flush=True)
    if args.json:
        OUT.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"device": str(device), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
