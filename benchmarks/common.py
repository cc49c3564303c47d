"""Shared pieces of the benchmarks: a full-size generated dataset, timers and memory readings.

The dataset is MNIST-sized (50,000 / 10,000 / 10,000) and generated, so every benchmark runs
offline; it is written once under ``benchmarks/out/`` and reused.
"""

from __future__ import annotations

import platform
import statistics
import sys
import time
from pathlib import Path

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
