"""Shared pieces of the benchmarks: a full-size generated dataset, timers and memory readings.

The dataset is MNIST-sized (50,000 / 10,000 / 10,000) and generated, so every benchmark runs
offline; it is written once under ``benchmarks/out/`` and reused.
"""

from __future__ import annotations

import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
sys.path.insert(0, str(ROOT / "src"))  # runnable without installing the package

FULL_SIZE = (50_000, 10_000, 10_000)


def dataset(sizes: tuple[int, int, int] = FULL_SIZE) -> tuple[Path, Path]:
    """``(mnist.pkl.gz, tensors folder)`` for generated data of ``sizes``, made once."""
    from mnist_pipeline.formats import read_source
    from mnist_pipeline.synthetic import make_splits, write_pickle
    from mnist_pipeline.tensors import save_splits

    folder = OUT / ("data-" + "-".join(map(str, sizes)))
    pickle_path, tensors = folder / "mnist.pkl.gz", folder / "tensors"
    if not (tensors / "test.safetensors").exists():
        write_pickle(make_splits(*sizes, seed=0), pickle_path)
        save_splits(read_source(pickle_path), tensors)
    return pickle_path, tensors


PROJECT_FILES = ["dvc.yaml", "params.yaml", ".dvcignore", ".gitignore", ".dvc/config"]


def make_project(dest: Path, pickle_path: Path, epochs: int, device: str) -> Path:
    """A fresh, git-initialised copy of the pipeline whose data.url is the local file."""
    from mnist_pipeline.fetch import file_md5

    for name in PROJECT_FILES:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)
    for folder in ("stages", "src"):
        shutil.copytree(ROOT / folder, dest / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    params = yaml.safe_load((dest / "params.yaml").read_text())
    params["data"].update(url=str(pickle_path), mirrors=[], md5=file_md5(pickle_path),
                          size=pickle_path.stat().st_size)
    params["train"].update(epochs=epochs, device=device)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM), in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not found in /proc/self/status")


def median(values: list[float]) -> float:
    return statistics.median(values)


class Timer:
    def __init__(self, sync=None):
        self.sync = sync or (lambda: None)

    def __enter__(self) -> Timer:
        self.sync()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.sync()
        self.seconds = time.perf_counter() - self.start


def machine() -> str:
    import os

    import torch

    cpu = platform.processor() or platform.machine()
    return (f"{os.cpu_count()} CPU cores ({cpu}), torch {torch.__version__}, "
            f"{torch.get_num_threads()} torch threads, Python {platform.python_version()}")
