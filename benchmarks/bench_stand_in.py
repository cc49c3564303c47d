"""What the train stage's ``torch._dynamo`` stand-in saves: the stage's wall time with it (as DVC
runs the stage) and without it (``torch._dynamo`` imported first, so the stand-in stands down and
``torch.optim`` loads the real compiler), on MNIST-sized data, the two alternating. The project
keeps the stand-in only while it saves at least 10 % of a train stage's wall time.

    python benchmarks/bench_stand_in.py [--runs 3] [--epochs 2] [--models logistic cnn]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from common import ROOT, dataset, machine, median

WITHOUT = ("import runpy, sys, torch._dynamo; sys.argv = sys.argv[1:]; "
           "runpy.run_path(sys.argv[0], run_name='__main__')")


def stage_seconds(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["logistic", "cnn"])
    args = parser.parse_args()
    _, tensors = dataset()
    print(f"train stage wall time, {args.epochs} epochs, median of {args.runs}; {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        params = yaml.safe_load((ROOT / "params.yaml").read_text())
        params["train"].update(device="cpu", epochs=args.epochs)
        (Path(tmp) / "params.yaml").write_text(yaml.safe_dump(params))
        for name in args.models:
            stage = [str(ROOT / "stages" / "train.py"), name, str(tensors), "m.safetensors"]
            times: dict[str, list[float]] = {"with": [], "without": []}
            for _ in range(args.runs):
                times["with"].append(stage_seconds([sys.executable, *stage], Path(tmp)))
                times["without"].append(stage_seconds([sys.executable, "-c", WITHOUT, *stage],
                                                      Path(tmp)))
            with_s, without_s = median(times["with"]), median(times["without"])
            saved = 1 - with_s / without_s
            print(f"{name:<10} with {with_s:.2f} s, without {without_s:.2f} s: "
                  f"{saved:.0%} saved (keep it at >= 10 %: {'yes' if saved >= 0.1 else 'NO'})")


if __name__ == "__main__":
    main()
