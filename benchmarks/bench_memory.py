"""Train stage peak memory against the data it holds: target ≤ train+valid tensors + 350 MiB.

Runs the real stage script (one epoch) in a child process per model and reads the child's
peak RSS. Also reports torch's own floor: a bare ``import torch``, and the same after one tiny
training step of the model (the first CPU kernel pages in oneDNN/MKL code), with no data loaded.
What the stage holds beyond that floor is the cost of its data.

    python benchmarks/bench_memory.py [--models cnn logistic]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from common import ROOT, dataset

TORCH_ONLY = "import torch"
TORCH_RUNTIME = """
import sys, torch, torch.nn.functional as F
sys.path.insert(0, {src!r})
from mnist_pipeline.train.devices import fastest_layout
from mnist_pipeline.variants import get_model
model, _ = get_model({name!r}, 0.1, 0.0)
fastest_layout(model, torch.device("cpu"))
loss = F.cross_entropy(model(torch.rand(64, 784)), torch.zeros(64, dtype=torch.long))
loss.backward()
"""


def child_peak_mib(args: list[str]) -> float:
    """Peak RSS of one child, via a wrapper that reports its own child's maximum."""
    wrapper = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", wrapper, *args], capture_output=True,
                         text=True, check=True).stdout
    return int(out.split()[-1]) / 1024  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["logistic", "cnn"])
    args = parser.parse_args()
    assert resource  # the wrapper relies on it; imported here to fail early where missing

    _, tensors = dataset()
    # What the stage holds in memory: float32 x (the files hold MNIST's bytes) and int64 y.
    from mnist_pipeline.core.tensor_files import load_split

    data_mib = sum(t.nbytes for s in ("train", "valid") for t in load_split(tensors, s)) / 2**20
    torch_mib = child_peak_mib([sys.executable, "-c", TORCH_ONLY])
    print(f"train+valid tensors in memory {data_mib:.0f} MiB; "
          f"a bare `import torch` peaks at {torch_mib:.0f} MiB")
    with tempfile.TemporaryDirectory() as tmp:
        params = yaml.safe_load((ROOT / "params.yaml").read_text())
        params["train"].update(epochs=1, device="cpu")
        params_path = Path(tmp) / "params.yaml"
        params_path.write_text(yaml.safe_dump(params))
        for name in args.models:
            peak = child_peak_mib([
                sys.executable, str(ROOT / "stages/train.py"), name, str(tensors),
                f"{tmp}/{name}.safetensors", "--params", str(params_path),
            ])
            floor = child_peak_mib([sys.executable, "-c",
                                    TORCH_RUNTIME.format(src=str(ROOT / "src"), name=name)])
            limit = data_mib + 350
            print(f"  train@{name}: peak RSS {peak:.0f} MiB, limit {limit:.0f} MiB "
                  f"(data + 350) {'ok' if peak <= limit else 'MISSED'}; torch's floor for "
                  f"this model {floor:.0f} MiB, so the stage holds {peak - floor:.0f} MiB "
                  f"for {data_mib:.0f} MiB of data", flush=True)


if __name__ == "__main__":
    main()
