"""SIGKILL a first `dvc repro` at seeded random moments, resume it each time, then check that
the finished project equals an uninterrupted run's: what a power cut, an OOM kill or a closed
terminal does to a run, by the dozen.

    python tests/kill_runs.py [--per-stage 2] [--seed 0]

Each kill aims at a stage: its run is killed ``after_s`` seconds after DVC announces that
stage, the moment drawn from 0 to 1.15 x the stage's time in an uninterrupted run (so some land
in DVC's work after the stage: hashing, caching, dvc.lock). Most kills take dvc's whole process
group; ``whom="stage"`` kills only the stage's process (as the OOM killer does) and
``whom="dvc"`` only dvc's. ``tests/test_kills_e2e.py`` runs a few of them; this script runs
every stage's. A failed check exits 1.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tools")]

from dvc_repair import repair  # noqa: E402

from project import RESTORED, RUNNING, create_project  # noqa: E402
from synthetic import make_splits, write_pickle  # noqa: E402

OUTPUTS = ("data", "models", "live", "metrics", "plots")  # every file must match the reference's
SIZES = (8000, 1000, 1000)  # small, but a CNN epoch lasts long enough to be killed in
OVERSHOOT = 1.15  # kill moments reach past a stage's end, into DVC's work after it


@dataclass
class Kill:
    target: str  # the stage the kill aims at (the next one, if that one has finished)
    after_s: float  # seconds after DVC announced it
    whom: str = "group"  # "group" (dvc and its stages), "stage" or "dvc" alone
    hit: str = ""  # where it landed: "<stage> (its process)", "<stage> (dvc's work)", ...
    status: int | None = None  # the killed run's exit status


def project_pair(root: Path, epochs: int = 3, sizes: tuple[int, int, int] = SIZES
                 ) -> tuple[Path, Path]:
    """Two identical projects on the same generated data: a reference and one to kill."""
    data = write_pickle(make_splits(*sizes, seed=7), root / "mnist.pkl.gz")
    return tuple(create_project(root / name, str(data), data, epochs=epochs)
                 for name in ("reference", "killed"))


def environment() -> dict[str, str]:
    # Unbuffered, so DVC's "Running stage" lines arrive when it prints them.
    return {**os.environ, "PYTHONUNBUFFERED": "1", "DVC_NO_ANALYTICS": "1"}


def timed_stages(project: Path) -> dict[str, float]:
    """Run ``dvc repro`` to the end; each stage's seconds, from its announcement to the next."""
    marks = []
    with subprocess.Popen(["dvc", "repro"], cwd=project, env=environment(), text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        output = []
        for line in proc.stdout:
            output.append(line)
            if found := RUNNING.search(line):
                marks.append((found.group(1), time.perf_counter()))
    if proc.returncode != 0:
        raise RuntimeError("the reference dvc repro failed:\n" + "".join(output))
    ends = [at for _, at in marks[1:]] + [time.perf_counter()]
    return {name: end - at for (name, at), end in zip(marks, ends, strict=True)}


def plan(durations: dict[str, float], per_stage: int, seed: int) -> list[Kill]:
    """``per_stage`` kills for each stage, in pipeline order, at seeded random moments."""
    rng = random.Random(seed)
    return [Kill(stage, round(rng.uniform(0, OVERSHOOT * seconds), 3))
            for stage, seconds in durations.items() for _ in range(per_stage)]


def stage_processes(session: int) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            command = process.info["cmdline"] or []
            # The stage's Python, not the shell DVC may run it through.
            if (os.getsid(process.pid) == session and command
                    and "python" in os.path.basename(command[0])
                    and any("stages/" in part for part in command)):
                found.append(process)
        except (ProcessLookupError, psutil.Error):
            continue
    return found


def session_alive(session: int) -> bool:
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == session:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False


def run_and_kill(project: Path, kill: Kill, durations: dict[str, float],
                 timeout: float = 300) -> bool:
    """One ``dvc repro``, killed as ``kill`` says; if its target stage has finished already
    (an earlier kill landed past it), at the same fraction of the first stage after it. False
    if the run ended first."""
    order = list(durations)
    proc = subprocess.Popen(["dvc", "repro"], cwd=project, env=environment(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    announced, current, lines = threading.Event(), [""], []

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            if (found := RUNNING.search(line)) and not announced.is_set():
                current[0] = found.group(1)
                if order.index(current[0]) >= order.index(kill.target):
                    if current[0] != kill.target:
                        kill.after_s *= durations[current[0]] / durations[kill.target]
                        kill.target = current[0]
                    announced.set()
        announced.set()  # the run ended without reaching the target

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    announced.wait(timeout)
    if proc.poll() is not None or current[0] != kill.target:
        proc.wait(timeout)
        reader.join(timeout)
        kill.status, kill.hit = proc.returncode, "(the run had passed it)"
        if proc.returncode != 0:
            if not recover(project):
                raise RuntimeError(f"dvc repro failed on its own before {kill}:\n"
                                   + "".join(lines))
            again = Kill(kill.target, kill.after_s, kill.whom)
            landed = run_and_kill(project, again, durations)
            kill.hit, kill.status = f"{again.hit}, after a repair", again.status
            return landed
        return False
    time.sleep(kill.after_s)
    stages = stage_processes(proc.pid)
    if kill.whom != "group":  # these aim at a running stage: wait for one if between two
        deadline = time.monotonic() + 30
        while not stages and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
            stages = stage_processes(proc.pid)
    kill.hit = current[0] + (" (its process)" if stages else " (dvc's work)")
    if proc.poll() is not None:
        kill.hit = "(the run had ended)"
    elif kill.whom == "group":
        os.killpg(proc.pid, signal.SIGKILL)
    elif kill.whom == "dvc":
        proc.kill()
    else:
        for stage in stages:
            stage.kill()
    kill.status = proc.wait(timeout)
    reader.join(timeout)
    tally("".join(lines))
    deadline = time.monotonic() + 60  # a stage left by a killed dvc notices and stops
    while session_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if session_alive(proc.pid):
        raise RuntimeError(f"processes of the killed run are still running after {kill}")
    return True


# A SIGKILL of dvc while it rewrites dvc.lock or .dvc/tmp/rwlock in place can leave them cut short.
repairs: dict[str, int] = {"rwlock": 0, "dvc.lock": 0}  # how often each procedure was needed
seen = {"resumed from a checkpoint": 0, "restored from the run-cache": 0}  # in later runs


def recover(project: Path) -> bool:
    """After a failed ``dvc repro``: ``make repro``'s repair (``tools/dvc_repair.py``), which
    decides from the files what a killed dvc left half-written. Whether it repaired one."""
    done = [line for line in repair(project) if line.startswith("repaired: ")]
    for line in done:
        repairs["rwlock" if "rwlock" in line else "dvc.lock"] += 1
    return bool(done)


def tally(output: str) -> None:
    seen["resumed from a checkpoint"] += output.count("resuming after epoch")
    seen["restored from the run-cache"] += len(RESTORED.findall(output))


def files(project: Path) -> dict[str, bytes]:
    return {str(path.relative_to(project)): path.read_bytes()
            for folder in OUTPUTS for path in sorted((project / folder).rglob("*"))
            if path.is_file()}


def same_ignores(name: str, mine: bytes, theirs: bytes) -> bool:
    """DVC adds an output to its folder's .gitignore when it first writes it, so the lines'
    order follows the order the stages finished in: the same lines are the same file."""
    return name.endswith(".gitignore") and sorted(mine.splitlines()) == sorted(
        theirs.splitlines())


def check_finished(killed: Path, reference: Path) -> list[str]:
    """What differs from the reference after a last, uninterrupted ``dvc repro``."""
    problems = []
    last = subprocess.run(["dvc", "repro"], cwd=killed, env=environment(),
                          capture_output=True, text=True)
    if last.returncode != 0 and recover(killed):
        last = subprocess.run(["dvc", "repro"], cwd=killed, env=environment(),
                              capture_output=True, text=True)
    tally(last.stdout + last.stderr)
    if last.returncode != 0:
        return [f"the last dvc repro exited {last.returncode}:\n{last.stdout}{last.stderr}"]
    status = subprocess.run(["dvc", "status"], cwd=killed, capture_output=True, text=True)
    if "Data and pipelines are up to date" not in status.stdout:
        problems.append(f"dvc status is not clean:\n{status.stdout}")
    mine, theirs = files(killed), files(reference)
    problems += [f"{name}: not in an uninterrupted run" for name in sorted(set(mine) - set(theirs))]
    problems += [f"{name}: missing" for name in sorted(set(theirs) - set(mine))]
    problems += [f"{name}: differs from an uninterrupted run's"
                 + (f" ({mine[name]!r} against {theirs[name]!r})" if len(mine[name]) < 200
                    else "")
                 for name in sorted(mine) if name in theirs and mine[name] != theirs[name]
                 and not same_ignores(name, mine[name], theirs[name])]
    for leftover in (".checkpoints", "data/.raw.download"):
        if (killed / leftover).exists() and any((killed / leftover).iterdir()):
            problems.append(f"{leftover}: not empty after the run finished")
    return problems


def report(kills: list[Kill]) -> str:
    per_stage: dict[str, dict[str, int]] = {}
    for k in kills:
        stage, _, where = k.hit.partition(" (")
        if stage and not stage.startswith("("):
            counts = per_stage.setdefault(stage, {"its process": 0, "dvc's work": 0})
            counts["its process" if where.startswith("its process") else "dvc's work"] += 1
    lines = [f"{'aimed at':<20}{'after s':>8}  {'whom':<6}{'landed in':<46}status"]
    lines += [f"{k.target:<20}{k.after_s:>8.2f}  {k.whom:<6}{k.hit:<46}{k.status}"
              for k in kills]
    lines += ["", "kills landed per stage: in its process / in dvc's work around it"]
    lines += [f"  {stage:<20}{inside:>3} / {around}"
              for stage, (inside, around) in ((s, c.values()) for s, c in per_stage.items())]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-stage", type=int, default=2, help="kills aimed at each stage")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        reference, killed = project_pair(Path(tmp))
        durations = timed_stages(reference)
        kills = plan(durations, args.per_stage, args.seed)
        # One OOM-style kill of a training alone, and one of dvc alone, mid-training.
        rng = random.Random(args.seed + 1)
        for whom, stage in (("stage", "train@cnn"), ("dvc", "train@sequential")):
            at = next(i for i, k in enumerate(kills) if k.target == stage)
            kills.insert(at, Kill(stage, round(rng.uniform(0, durations[stage]), 3), whom))
        start = time.perf_counter()
        landed = sum(run_and_kill(killed, kill, durations) for kill in kills)
        problems = check_finished(killed, reference)
    print(report(kills))
    print(f"\n{landed} kills landed of {len(kills)} aimed, in {time.perf_counter() - start:.0f} s; "
          f"repairs of what dvc left half-written: {repairs}; later runs: {seen}; "
          f"then one dvc repro to the end: "
          + ("every file in data/, models/, live/, metrics/, plots/ equals an uninterrupted run's, "
             "dvc status is clean, no checkpoint or partial download is left"
             if not problems else "PROBLEMS:\n  " + "\n  ".join(problems)))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
