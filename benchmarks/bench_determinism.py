"""What ``train.deterministic`` promises and costs: every model's train stage run twice with the
same params, without it and with it, on MNIST-sized data; whether the two runs' weights are the
same bytes (else their largest difference) and the median epoch time of each setting.

    python benchmarks/bench_determinism.py [--device cuda] [--epochs 2] [--models cnn ...]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from common import ROOT, dataset, median

EPOCH_SECONDS = re.compile(r"epoch \d+/\d+ .*\(([\d.]+) s\)")
MODELS = ["scratch", "logistic", "cnn", "sequential", "adaptive"]


def train(work: Path, name: str, tensors: Path, device: str, epochs: int,
          deterministic: bool) -> tuple[Path, list[float]]:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"].update(device=device, epochs=epochs, deterministic=deterministic)
    work.mkdir(parents=True)
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    done = subprocess.run([sys.executable, str(ROOT / "stages" / "train.py"), name, str(tensors),
                           "model.safetensors"], cwd=work, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr}")
    return work / "model.safetensors", [float(s) for s in EPOCH_SECONDS.findall(done.stderr)]


def difference(a: Path, b: Path) -> str:
    from safetensors.torch import load_file

    first, second = load_file(a), load_file(b)
    largest = max(float((first[key] - second[key]).abs().max()) for key in first)
    return "the same bytes" if largest == 0 else f"differ, by up to {largest:.2e}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=MODELS)
    args = parser.parse_args()
    _, tensors = dataset()
    print(f"two runs of each train stage, {args.epochs} epochs, device {args.device}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            for deterministic in (False, True):
                runs = [train(Path(tmp) / f"{name}-{deterministic}-{run}", name, tensors,
                              args.device, args.epochs, deterministic) for run in (1, 2)]
                seconds = median([s for _, epochs in runs for s in epochs])
                print(f"{name:<11} deterministic {str(deterministic).lower():<5}: "
                      f"{difference(runs[0][0], runs[1][0])}; {seconds:.2f} s an epoch",
                      flush=True)


if __name__ == "__main__":
    main()
