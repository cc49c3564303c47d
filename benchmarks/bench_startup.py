"""What each of the project's speed tricks saves, where a user meets it: rerunning one model
(`dvc repro` after models.cnn.lr changed: train@cnn and evaluate run) and the CNN's epochs in
that rerun (from the stage's log), in a copy of the project as it is and in a copy with the
trick's line taken out, the copies alternating, on MNIST-sized data. A trick stays only while
it saves >= 10 % of that rerun or of a CNN epoch.

    python benchmarks/bench_startup.py [--runs 3] [--epochs 2] [--tricks NAME ...]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from common import dataset, machine, make_project, median

# Each trick: the edits that take it out of a copy of the project, (file, text, replacement).
TRICKS = {
    "keep_freed_memory (train)": [
        ("stages/train.py", "    startup.keep_freed_memory()\n", "")],
    "frozen_imports (train)": [
        ("stages/train.py", "with startup.frozen_imports():", "if True:")],
    "frozen_imports (evaluate)": [
        ("stages/evaluate.py", "with startup.frozen_imports():", "if True:")],
    "dynamo stand-in (train)": [
        ("stages/train.py", "startup.install_dynamo_stand_in()", "pass")],
    "channels-last convolutions": [
        ("src/mnist_pipeline/train/training.py", "    fastest_layout(model, device)\n", ""),
        ("src/mnist_pipeline/evaluate/scoring.py",
         "    fastest_layout(model, torch.device(device))", "    pass")],
}
EPOCH_SECONDS = re.compile(r"train: epoch \d+/\d+ .*\(([\d.]+) s\)")
AS_IT_IS = "as it is"


def copy_without(trick: str | None, dest: Path, pickle_path: Path, epochs: int) -> Path:
    project = make_project(dest, pickle_path, epochs, "cpu")
    for file, text, replacement in TRICKS.get(trick, []):
        path = project / file
        source = path.read_text()
        if text not in source:
            raise SystemExit(f"{file} no longer holds {text!r}: update TRICKS")
        path.write_text(source.replace(text, replacement))
    return project


def rerun(project: Path, lr: float) -> tuple[float, list[float]]:
    """Wall time of `dvc repro` after models.cnn.lr became ``lr``; the cnn's epochs."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["models"]["cnn"]["lr"] = lr
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    start = time.perf_counter()
    done = subprocess.run(["dvc", "repro"], cwd=project, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if done.returncode != 0 or "Running stage 'train@cnn'" not in done.stdout:
        raise SystemExit(f"the rerun failed or trained nothing in {project}:\n{done.stdout}")
    cnn = done.stdout[done.stdout.index("Running stage 'train@cnn'"):]
    cnn = cnn[:cnn.index("Running stage", 1)] if "Running stage" in cnn[1:] else cnn
    return seconds, [float(s) for s in EPOCH_SECONDS.findall(cnn)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--tricks", nargs="+", default=list(TRICKS), choices=list(TRICKS))
    args = parser.parse_args()
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    pickle_path, _ = dataset()
    print(f"one model's rerun (train@cnn + evaluate, {args.epochs} epochs), median of "
          f"{args.runs}, alternating; {machine()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        sides = [AS_IT_IS, *args.tricks]
        projects = {side: copy_without(None if side == AS_IT_IS else side,
                                       Path(tmp) / f"p{i}", pickle_path, args.epochs)
                    for i, side in enumerate(sides)}
        for project in projects.values():  # a first run of the whole pipeline, once each
            rerun(project, 0.1)
        walls: dict[str, list[float]] = {side: [] for side in sides}
        epochs: dict[str, list[float]] = {side: [] for side in sides}
        for run in range(args.runs):
            order = sides if run % 2 == 0 else sides[::-1]
            for side in order:  # a new lr each run: the training always runs
                seconds, epoch_s = rerun(projects[side], 0.1 * (1 + (run + 1) / 100))
                walls[side].append(seconds)
                epochs[side] += epoch_s
    base_wall, base_epoch = median(walls[AS_IT_IS]), median(epochs[AS_IT_IS])
    print(f"\n{'':<30}{'rerun s':>8}{'saved':>8}{'cnn epoch s':>13}{'saved':>8}  keep?")
    print(f"{AS_IT_IS:<30}{base_wall:>8.2f}{'':>8}{base_epoch:>13.2f}")
    for trick in args.tricks:
        wall, epoch = median(walls[trick]), median(epochs[trick])
        saved_wall, saved_epoch = 1 - base_wall / wall, 1 - base_epoch / epoch
        keep = "yes" if max(saved_wall, saved_epoch) >= 0.10 else "NO"
        print(f"{'without ' + trick:<30}{wall:>8.2f}{saved_wall:>8.0%}{epoch:>13.2f}"
              f"{saved_epoch:>8.0%}  {keep}")


if __name__ == "__main__":
    main()
