"""Fixed cost per stage: what a stage costs besides its work, against a bare `import torch`.

* per stage, the wall time of the stage script on a tiny generated dataset (64 training images,
  so its work takes milliseconds): process start to first batch plus last batch to exit, as
  DVC starts it. Targets: a torch stage at most a bare ``python -c "import torch"`` + 0.3 s (with
  ``--device cuda``: ``import torch; torch.ones(1, device='cuda')`` + 0.5 s), a stage without
  torch under 0.5 s; medians of ``--runs``, alternating;
* train@cnn on MNIST-sized data: wall time minus the epochs' own time (from its log), which adds
  loading 180 MB of tensors to the fixed cost;
* what DVCLive's log of one epoch costs, and a train stage with its live view and without;
* a no-op ``dvc repro`` (target <= 1.2 s) and ``dvc status`` (<= 1.0 s) on a finished pipeline;
* the import cost of every stage's modules.

    python benchmarks/bench_overhead.py [--runs 5] [--device cuda]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from common import ROOT, dataset, make_project, median

TINY = (64, 32, 32)
TRAINED = ("scratch", "logistic", "cnn")
SMALL = (2_000, 500, 500)
TORCH_TARGET_S = {"cpu": 0.3, "cuda": 0.5}
PLAIN_TARGET_S = 0.5
BARE_TORCH = {"cpu": "import torch",
              "cuda": "import torch; torch.ones(1, device='cuda')"}  # CUDA started too
STAGE_IMPORTS = {
    "fetch": "mnist_pipeline.fetch.dataset, mnist_pipeline.core.params",
    "convert": "mnist_pipeline.convert.readers, mnist_pipeline.core.tensor_files, "
               "mnist_pipeline.evaluate.pictures",
    "train": "mnist_pipeline.train.training",
    "evaluate": "mnist_pipeline.evaluate.results",
}
EPOCH_SECONDS = re.compile(r"epoch \d+/\d+ .*\((\d+\.\d+) s\)")


def timed(args: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, result.stderr


def write_params(folder: Path, data: Path, device: str) -> None:
    from mnist_pipeline.fetch.dataset import file_md5

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(url=str(data), mirrors=[], md5=file_md5(data),
                          size=data.stat().st_size)
    params["train"]["device"] = device
    params["models"] = {name: params["models"][name] for name in TRAINED}  # what evaluate reads
    (folder / "params.yaml").write_text(yaml.safe_dump(params))


def stage_commands() -> dict[str, list[str]]:
    """Each stage as DVC runs it (fetch into ``raw``, convert from it, ...), from a work folder."""
    def stage(name: str, *args: str) -> list[str]:
        return [sys.executable, str(ROOT / "stages" / f"{name}.py"), *args]

    commands = {"fetch": stage("fetch", "raw"),
                "convert": stage("convert", "raw", "tensors", "samples.png")}
    for model in TRAINED:
        commands[f"train@{model}"] = stage("train", model, "tensors", f"{model}.safetensors")
    # As dvc.yaml runs it: with its live view, logged by DVCLive after every epoch.
    if importlib.util.find_spec("dvclive"):
        commands["train@logistic live/"] = stage("train", "logistic", "tensors",
                                                 "logistic.safetensors", "live")
    commands["evaluate (3 models)"] = stage("evaluate", "tensors", ".", "metrics",
                                            "history.csv", "confusion.csv", "most_wrong")
    return commands


def fixed_costs(runs: int, device: str) -> None:
    pickle_path, _ = dataset(TINY)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_params(work, pickle_path, device)
        commands = stage_commands()
        for command in commands.values():  # once, to make every stage's inputs
            subprocess.run(command, cwd=work, check=True, capture_output=True)
        bare = [sys.executable, "-c", "pass"]
        torch_import = [sys.executable, "-c", BARE_TORCH[device]]
        times: dict[str, list[float]] = {"python": [], "import torch": []}
        for _ in range(runs):
            times["python"].append(timed(bare, work)[0])
            times["import torch"].append(timed(torch_import, work)[0])
            for name, command in commands.items():
                times.setdefault(name, []).append(timed(command, work)[0])
    torch_s = median(times["import torch"])
    print(f"fixed cost per stage (tiny data: 64 training images), median of {runs}:")
    print(f"  {'python -c pass':<26}{median(times['python']):6.2f} s")
    label = f'python -c "{BARE_TORCH[device]}"'
    print(f"  {label}  {torch_s:.2f} s")
    for name in commands:
        seconds = median(times[name])
        if name.startswith(("train@", "evaluate")):
            target = torch_s + TORCH_TARGET_S[device]
            over = f"bare torch + {seconds - torch_s:.2f} s"
        else:
            target, over = PLAIN_TARGET_S, "no torch"
        verdict = "ok" if seconds <= target else "MISSED"
        print(f"  {name:<26}{seconds:6.2f} s  ({over}; target <= {target:.2f} s) {verdict}")


def full_size_train(runs: int, device: str) -> None:
    pickle_path, tensors = dataset()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_params(work, pickle_path, device)
        command = [sys.executable, str(ROOT / "stages" / "train.py"), "cnn", str(tensors),
                   "cnn.safetensors"]
        fixed = []
        for _ in range(runs):
            wall, log = timed(command, work)
            found = EPOCH_SECONDS.findall(log)
            # Without every epoch's line, the whole run would pass for fixed cost.
            assert len(found) == params_epochs(work), log
            fixed.append(wall - sum(float(s) for s in found))
    print(f"train@cnn, MNIST-sized data: wall minus its epochs = {median(fixed):.2f} s "
          "(loading the tensors included)")


def live_view_ms(epochs: int = 20) -> tuple[float, float]:
    """What DVCLive costs the train stage: starting its log (``Live()``, which opens the DVC
    repository around it), and logging one epoch, in ms."""
    from mnist_pipeline.train.live import LiveView
    from mnist_pipeline.train.monitor import EpochStats

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        live = LiveView(str(Path(tmp) / "live"))
        started = time.perf_counter()
        for epoch in range(1, epochs + 1):
            live.log_epoch(EpochStats(epoch, 0.5, 0.4, 0.9))
        return (started - start) * 1e3, (time.perf_counter() - started) / epochs * 1e3


def params_epochs(work: Path) -> int:
    return yaml.safe_load((work / "params.yaml").read_text())["train"]["epochs"]


def noop_seconds(tmp: Path) -> tuple[float, float, int]:
    """A no-op ``dvc repro`` and ``dvc status`` on a finished pipeline, and dvc.lock's lines."""
    pickle_path, _ = dataset(SMALL)
    project = make_project(tmp / "project", pickle_path, epochs=1, device="cpu")
    subprocess.run(["dvc", "repro", "-q"], cwd=project, check=True, capture_output=True)
    repro = median([timed(["dvc", "repro"], project)[0] for _ in range(3)])
    status = median([timed(["dvc", "status"], project)[0] for _ in range(3)])
    return repro, status, len((project / "dvc.lock").read_text().splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--device", choices=sorted(BARE_TORCH), default="cpu",
                        help="train.device for the train stages")
    args = parser.parse_args()
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])

    fixed_costs(args.runs, args.device)
    full_size_train(max(1, args.runs // 2), args.device)
    if shutil.which("dvc") is None:
        print("no dvc here: no live view, no-op dvc repro or dvc status measured")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            seconds, status, lock_lines = noop_seconds(Path(tmp))
        start_ms, epoch_ms = live_view_ms()
        print(f"the live view (DVCLive): {start_ms:.0f} ms to start, {epoch_ms:.1f} ms an epoch")
        print(f"no-op dvc repro on a finished pipeline: {seconds:.2f} s (target <= 1.2 s) "
              f"{'ok' if seconds <= 1.2 else 'MISSED'}; dvc status {status:.2f} s (target <= "
              f"1.0 s) {'ok' if status <= 1.0 else 'MISSED'}; dvc.lock {lock_lines} lines")

    print("import cost per stage (fresh interpreter, minus `python -c pass`):")
    bare = median([timed([sys.executable, "-c", "pass"], ROOT)[0] for _ in range(3)])
    for stage, modules in STAGE_IMPORTS.items():
        cost = median([timed([sys.executable, "-c", f"import {modules}"], ROOT)[0]
                       for _ in range(3)]) - bare
        print(f"  {stage:<9}{cost:6.2f} s  ({modules})")


if __name__ == "__main__":
    main()
