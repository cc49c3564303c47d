"""The whole job: a first `dvc repro` of the pipeline vs the tutorial's code as one process.

Both sides do the same job on the same MNIST-sized generated data: the pipeline's first
``dvc repro`` in a fresh copy of the project (fetch from a local file, convert, five trainings,
one evaluate stage), and ``tutorial_job.py`` (the tutorial's code for the same five models as
one Python process). With ``--against REV`` the other side is instead the pipeline as it was at git
revision REV, to pair two versions of the project. Runs alternate between the sides; each
side's median wall time is printed, with the ratio and each stage's share of the pipeline's
time (from one ``Running stage`` line to the next, so DVC's work around a stage counts there).
Against the tutorial, each pipeline run then reruns after ``models.cnn.lr`` changed: that
rerun's wall time is printed beside the cnn's epochs in it (target: within 4 s of them).

    python benchmarks/bench_job.py [--runs 3] [--epochs 2] [--device cpu] [--against REV]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

from common import ROOT, checkout, dataset, machine, make_project, median

RUNNING = re.compile(r"Running stage '([^']+)'")
EPOCH_SECONDS = re.compile(r"train: epoch \d+/\d+ .*\(([\d.]+) s\)")
RERUN = "rerun after models.cnn.lr changed"
CNN_EPOCHS = "the cnn's epochs in that rerun"


def pipeline_run(pickle_path: Path, epochs: int, device: str,
                 source: Path = ROOT, rerun: bool = False) -> tuple[float, dict[str, float]]:
    """Wall time of a first ``dvc repro`` of the project in ``source`` and the seconds from
    each stage's start to the next; with ``rerun``, also a second ``dvc repro`` after
    ``models.cnn.lr`` changed, and the cnn's epochs in it (from its log lines)."""
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp) / "project", pickle_path, epochs, device, source)
        # The copy's own library, not the installed one: --against runs another version.
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(project / "src")}
        start, marks, end, _ = timed_repro(project, env)
        shares = {"(dvc start-up)": marks[0][1] - start}
        for (name, at), (_, after) in zip(marks, [*marks[1:], ("end", end)], strict=True):
            shares[name] = after - at
        if rerun:
            params = yaml.safe_load((project / "params.yaml").read_text())
            params["models"]["cnn"]["lr"] *= 0.9
            (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
            again, _, done, output = timed_repro(project, env)
            shares[RERUN] = done - again
            shares[CNN_EPOCHS] = sum(float(found.group(1)) for line in output
                                     if (found := EPOCH_SECONDS.search(line)))
    return end - start, shares


def timed_repro(project: Path, env: dict[str, str]):
    """``(start, [(stage, its start)], end, output lines)`` of one ``dvc repro``."""
    marks: list[tuple[str, float]] = []
    start = time.perf_counter()
    with subprocess.Popen(["dvc", "repro"], cwd=project, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        assert proc.stdout is not None
        output = []
        for line in proc.stdout:
            output.append(line)
            if found := RUNNING.search(line):
                marks.append((found.group(1), time.perf_counter()))
    end = time.perf_counter()
    if proc.returncode != 0 or not marks:
        raise RuntimeError("dvc repro failed or ran nothing:\n" + "".join(output))
    return start, marks, end, output


def tutorial_run(pickle_path: Path, epochs: int, device: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "tutorial_job.py"),
                    str(pickle_path), "--epochs", str(epochs), "--device", device],
                   check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--against", metavar="REV",
                        help="pair with the pipeline at this git revision, not the tutorial")
    args = parser.parse_args()
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])

    pickle_path, _ = dataset()
    with tempfile.TemporaryDirectory() as tmp:
        if args.against:
            reference = checkout(args.against, Path(tmp) / "reference")
            other = f"dvc repro at {args.against}"

            def reference_run() -> float:
                return pipeline_run(pickle_path, args.epochs, args.device, reference)[0]
        else:
            other = "the tutorial code, one process (tutorial_job.py)"

            def reference_run() -> float:
                return tutorial_run(pickle_path, args.epochs, args.device)
        compare(args, pickle_path, other, reference_run)


def compare(args, pickle_path: Path, other: str, reference_run) -> None:
    print(f"whole job, {args.epochs} epochs, device {args.device}, median of {args.runs} "
          f"alternating runs; {machine()}", flush=True)
    pipeline_times, other_times = [], []
    shares: dict[str, list[float]] = defaultdict(list)
    for run in range(args.runs):
        # Alternate which side goes first, so neither always runs on a warmer machine.
        order = ["pipeline", "other"] if run % 2 == 0 else ["other", "pipeline"]
        for side in order:
            if side == "pipeline":
                seconds, stage_shares = pipeline_run(pickle_path, args.epochs, args.device,
                                                     rerun=not args.against)
                pipeline_times.append(seconds)
                for name, value in stage_shares.items():
                    shares[name].append(value)
            else:
                seconds = reference_run()
                other_times.append(seconds)
            print(f"  run {run + 1}: {side:<9}{seconds:7.1f} s", flush=True)

    pipeline_s, other_s = median(pipeline_times), median(other_times)
    # Each run's two sides ran back to back, so their ratio sees the same machine: the median
    # of those ratios is steadier than the ratio of medians on a machine whose speed drifts.
    paired = [o / p for o, p in zip(other_times, pipeline_times, strict=True)]
    print(f"\n{'job':<58}{'wall s':>8}")
    print(f"{'dvc repro (first run: fetch, convert, 5 x train, evaluate)':<58}"
          f"{pipeline_s:>8.1f}")
    print(f"{other:<58}{other_s:>8.1f}")
    target = "" if args.against else "; target >= 0.6x"
    print(f"ratio other / pipeline: {other_s / pipeline_s:.2f}x of the medians, "
          f"{median(paired):.2f}x the median of each run's ratio "
          f"({', '.join(f'{r:.2f}' for r in paired)}){target}")
    print("\neach stage's share of the pipeline's time (median s, % of the median total):")
    rerun = {name: shares.pop(name) for name in (RERUN, CNN_EPOCHS) if name in shares}
    for name, values in shares.items():
        seconds = median(values)
        print(f"  {name:<18}{seconds:6.2f} s {100 * seconds / pipeline_s:5.1f} %")
    if rerun:
        overhead = [r - e for r, e in zip(rerun[RERUN], rerun[CNN_EPOCHS], strict=True)]
        print(f"\n{RERUN}: {median(rerun[RERUN]):.2f} s, of which the cnn's epochs "
              f"{median(rerun[CNN_EPOCHS]):.2f} s: {median(overhead):.2f} s more (median of "
              f"each run's; target <= 4 s)")


if __name__ == "__main__":
    main()
