"""Pipeline overhead: a no-op `dvc repro`, and each stage's cost before its real work.

* no-op ``dvc repro`` on a finished pipeline (target ≤ 3 s), median of 3;
* the train stage's time to its first batch, split into interpreter start, imports, params and
  device, tensor loading and model set-up, measured from the parent's spawn of a child that
  walks the stage's own steps;
* the import cost of every stage script's modules.

    python benchmarks/bench_overhead.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from common import ROOT, dataset, median

SMALL = (2_000, 500, 500)
STAGE_IMPORTS = {
    "fetch": "mnist_pipeline.fetch, mnist_pipeline.params",
    "convert": "mnist_pipeline.formats, mnist_pipeline.tensors, mnist_pipeline.pictures",
    "train": "mnist_pipeline.trainer, mnist_pipeline.weights",
    "evaluate": "mnist_pipeline.evaluation, mnist_pipeline.pictures",
}
FIRST_BATCH_CHILD = r"""
import sys, time, json
marks = {"spawned": float(sys.argv[1]), "interpreter": time.time()}
from mnist_pipeline.params import load_params
from mnist_pipeline.trainer import train_variant  # what the stage imports
import torch
from mnist_pipeline.batches import get_data
from mnist_pipeline.devices import resolve_device
from mnist_pipeline.models import get_model
from mnist_pipeline.tensors import load_split
marks["imports"] = time.time()
params = load_params(sys.argv[2]); device = resolve_device(params.train.device)
marks["params+device"] = time.time()
train = load_split(sys.argv[3], "train", str(device))
valid = load_split(sys.argv[3], "valid", str(device))
marks["load tensors"] = time.time()
torch.manual_seed(0)
train_dl, _ = get_data(train, valid, params.train.bs, torch.Generator().manual_seed(0))
model, opt = get_model("cnn", 0.1, 0.9, device)
next(iter(train_dl))
marks["model + first batch"] = time.time()
print(json.dumps(marks))
"""


def timed(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def noop_repro_seconds(tmp: Path) -> float:
    from mnist_pipeline.fetch import file_md5

    pickle_path, _ = dataset(SMALL)
    project = tmp / "project"
    project.mkdir()
    for name in ("dvc.yaml", "params.yaml", ".dvcignore", ".dvc/config"):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, project / name)
    for folder in ("stages", "src"):
        shutil.copytree(ROOT / folder, project / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"].update(url=str(pickle_path), md5=file_md5(pickle_path),
                          size=pickle_path.stat().st_size)
    params["train"]["epochs"] = 1
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run(["dvc", "repro", "-q"], cwd=project, check=True)
    return median([timed(["dvc", "repro"], project) for _ in range(3)])


def main() -> None:
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    with tempfile.TemporaryDirectory() as tmp:
        seconds = noop_repro_seconds(Path(tmp))
    print(f"no-op dvc repro on a finished pipeline: {seconds:.2f} s (target <= 3 s) "
          f"{'ok' if seconds <= 3 else 'MISSED'}")

    _, tensors = dataset()
    with tempfile.TemporaryDirectory() as tmp:
        params = yaml.safe_load((ROOT / "params.yaml").read_text())
        params["train"]["device"] = "cpu"
        (Path(tmp) / "params.yaml").write_text(yaml.safe_dump(params))
        out = subprocess.run(
            [sys.executable, "-c", FIRST_BATCH_CHILD, repr(time.time()),
             f"{tmp}/params.yaml", str(tensors)],
            capture_output=True, text=True, check=True).stdout
    marks = json.loads(out)
    names, times = list(marks), list(marks.values())
    print(f"train@cnn, full-size data: {times[-1] - times[0]:.2f} s before its first batch")
    for name, before, after in zip(names[1:], times[:-1], times[1:], strict=True):
        print(f"  {name:<22}{after - before:6.2f} s")

    print("import cost per stage (fresh interpreter, minus `python -c pass`):")
    bare = median([timed([sys.executable, "-c", "pass"], ROOT) for _ in range(3)])
    for stage, modules in STAGE_IMPORTS.items():
        cost = median([timed([sys.executable, "-c", f"import {modules}"], ROOT)
                       for _ in range(3)]) - bare
        print(f"  {stage:<9}{cost:6.2f} s  ({modules})")


if __name__ == "__main__":
    main()
