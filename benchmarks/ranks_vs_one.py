"""How close two ranks come to one process, at the defaults: every model's train stage on
MNIST-sized data, as one process (torch's threads), as one process on one thread, and as two
ranks (torchrun, gloo, a thread each); the largest difference of any weight between them.

Float additions in another order differ in their last bits; how far that carries depends on the
model and its learning rate, which this shows (docs/scaling.md quotes it).

    python benchmarks/ranks_vs_one.py [--epochs 1] [--models scratch cnn ...] [--tensors DIR]

Without ``--tensors`` it trains on generated MNIST-sized data; ``--tensors data/tensors`` (after
a `dvc repro`) measures it on real MNIST.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from common import ROOT, dataset

MODELS = ["scratch", "logistic", "cnn", "sequential", "adaptive"]


def train(work: Path, name: str, tensors: Path, epochs: int, nproc: int, threads: str | None):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"].update(device="cpu", epochs=epochs, nproc=nproc)
    work.mkdir(parents=True)
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, **({"OMP_NUM_THREADS": threads} if threads else {})}
    subprocess.run([sys.executable, str(ROOT / "stages" / "train.py"), name, str(tensors),
                    "model.safetensors"], cwd=work, env=env, check=True, capture_output=True)
    from safetensors.torch import load_file

    return load_file(work / "model.safetensors")


def largest(a: dict, b: dict) -> float:
    return max(float((a[key] - b[key]).abs().max()) for key in a)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--tensors", type=Path, help="the convert stage's folder (default: "
                        "generated MNIST-sized data)")
    args = parser.parse_args()
    tensors = args.tensors.resolve() if args.tensors else dataset()[1]
    print(f"data: {tensors}")
    print(f"largest weight difference after {args.epochs} epoch(s), the defaults' lr and bs")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            one = train(Path(tmp) / f"{name}-one", name, tensors, args.epochs, 1, None)
            single = train(Path(tmp) / f"{name}-thread", name, tensors, args.epochs, 1, "1")
            ranks = train(Path(tmp) / f"{name}-ranks", name, tensors, args.epochs, 2, None)
            print(f"{name:<11} two ranks vs one process {largest(ranks, one):.1e}; one thread "
                  f"vs two {largest(single, one):.1e}", flush=True)


if __name__ == "__main__":
    main()
