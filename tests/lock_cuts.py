"""Cut a real ``dvc.lock`` where a SIGKILL in DVC's rewrite of it could, and check each cut as
``make repro`` meets it: its repair (``tools/dvc_repair.py``) leaves a lock DVC can use, and the
next ``dvc repro`` restores every finished stage from the run-cache, retrains nothing, and ends
with an uninterrupted run's outputs and ``dvc.lock``.

    python tests/lock_cuts.py [--random 300] [--seed 0] [--sample 30] [--jobs 2] [--not-in-git]

A five-model project on tiny generated data runs ``dvc repro`` once and is committed, its lock
too (as ``core.autostage`` stages it), or, with ``--not-in-git``, all but its lock (as after a
first run that was killed); the lock is then cut at every line boundary and at ``--random``
seeded byte offsets. After every cut the repair runs, then ``dvc status`` must work. Then
``dvc repro`` (seconds each) runs after every cut the repair left alone (DVC reads those as
"changed": the run-cache must restore what the lock lost), and after ``--sample`` of the cuts it
repaired: each of those is checked to leave the same bytes (git's copy, or no lock), so a few
stand for all. ``--jobs`` copies of the project share the cuts. ``tests/test_lock_cuts_e2e.py``
runs a handful. A failed check exits 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tools")]

from dvc_repair import REFUSED, NotRepaired, lock_problem, repair  # noqa: E402
from kill_runs import files  # noqa: E402

from project import create_project, run, stages_restored, stages_run  # noqa: E402
from synthetic import make_splits, write_pickle  # noqa: E402

SIZES = (600, 200, 200)  # what the lock says matters here, not what the models learn


@dataclass
class Cut:
    at: int  # the lock's first ``at`` bytes are left
    kind: str = ""  # what the repair finds wrong with them ("" if nothing)
    repaired: str = ""  # what the repair said it did ("" if nothing)
    problem: str = ""  # a failed check ("" if none)
    restored: int | None = None  # stages the dvc repro after it restored (None: not run)

    @property
    def verdict(self) -> str:
        return "failed" if self.problem else "repaired" if self.repaired else "harmless"


@dataclass
class Reference:
    """The finished, committed project: its lock and every output, as an uninterrupted run
    left them."""
    project: Path
    lock: bytes
    outputs: dict[str, bytes]
    in_git: bool  # whether git holds the lock (else the repair removes a cut one)


def finished_project(root: Path, in_git: bool = True) -> Reference:
    """A five-model project run once by ``dvc repro`` and committed, with its lock or not."""
    data = write_pickle(make_splits(*SIZES, seed=7), root / "mnist.pkl.gz")
    project = create_project(root / "project", str(data), data, epochs=1)
    run(["dvc", "repro"], project)
    run(["git", "add", "-A"], project)
    if not in_git:
        run(["git", "rm", "-q", "--cached", "dvc.lock"], project)
    run(["git", "commit", "-q", "-m", "a finished run"], project)
    return Reference(project, (project / "dvc.lock").read_bytes(), files(project), in_git)


def offsets(lock: bytes, n_random: int, seed: int) -> list[int]:
    """Every line boundary of ``lock`` (an empty file too) and ``n_random`` other byte offsets:
    the lengths of a cut. The whole file is no cut."""
    lines = {0} | {i + 1 for i, byte in enumerate(lock[:-1]) if byte == ord("\n")}
    others = sorted(set(range(1, len(lock))) - lines)
    return sorted(lines | set(random.Random(seed).sample(others, min(n_random, len(others)))))


def try_cut(ref: Reference, cut: Cut, full_if_repaired: bool) -> Cut:
    """Cut the lock, repair it, check ``dvc status``, and ``dvc repro`` unless the repair
    repaired it and not ``full_if_repaired``; then put the project back as it was."""
    project, lock = ref.project, ref.project / "dvc.lock"
    lock.write_bytes(ref.lock[:cut.at])
    cut.kind = lock_problem(ref.lock[:cut.at]) or ""
    try:
        cut.repaired = "; ".join(repair(project))
    except NotRepaired as failed:
        cut.problem = f"not repaired: {failed}"
    if not cut.problem and cut.repaired:
        cut.problem = repaired_wrongly(ref, cut)
    status = run(["dvc", "status"], project, check=False)
    if not cut.problem and status.returncode != 0:
        cut.problem = f"dvc status failed: {(status.stderr or status.stdout).strip()[:300]}"
    if not cut.problem and (full_if_repaired or not cut.repaired):
        cut.problem = check_repro(ref, cut)
    put_back(ref, clean=not cut.problem)
    return cut


def repaired_wrongly(ref: Reference, cut: Cut) -> str:
    """What is wrong with a repair: git's copy back, or, where git has none, no lock and the
    cut kept aside (it cannot be told from a hand edit then). "" if nothing is."""
    lock, refused = ref.project / "dvc.lock", ref.project / REFUSED
    if ref.in_git:
        if refused.exists():
            return f"a cut of git's own copy was kept in {REFUSED}, as if edited by hand"
        return "" if lock.read_bytes() == ref.lock else "the repair left another lock than git's"
    if lock.exists():
        return "the repair left a lock where git has none"
    return "" if refused.read_bytes() == ref.lock[:cut.at] else f"{REFUSED} is not the cut"


def check_repro(ref: Reference, cut: Cut) -> str:
    """What is wrong with the next ``dvc repro``: it must retrain nothing and leave an
    uninterrupted run's lock and outputs ("" if nothing is)."""
    project = ref.project
    repro = run(["dvc", "repro"], project, check=False)
    cut.restored = len(stages_restored(repro.stdout))
    if repro.returncode != 0:
        return f"dvc repro failed: {(repro.stderr or repro.stdout).strip()[:300]}"
    if ran := stages_run(repro.stdout):
        return f"dvc repro ran {', '.join(ran)} again"
    if (project / "dvc.lock").read_bytes() != ref.lock:
        return "dvc repro wrote another dvc.lock than an uninterrupted run's"
    now = files(project)
    differ = sorted(name for name in ref.outputs.keys() | now.keys()
                    if ref.outputs.get(name) != now.get(name))
    return f"outputs differ from an uninterrupted run's: {', '.join(differ)}" if differ else ""


def put_back(ref: Reference, clean: bool) -> None:
    """The committed project again, for the next cut. After a failure, its outputs too (DVC
    may have deleted them); they must then equal an uninterrupted run's."""
    project = ref.project
    (project / "dvc.lock").write_bytes(ref.lock)
    (project / REFUSED).unlink(missing_ok=True)
    if not ref.in_git:  # a dvc repro stages its lock (core.autostage)
        run(["git", "rm", "-q", "--cached", "--ignore-unmatch", "dvc.lock"], project)
    if not clean:
        run(["git", "reset", "-q", "--hard"], project)
        run(["dvc", "checkout", "--force"], project)
        if files(project) != ref.outputs:
            raise RuntimeError("the project could not be put back as it was")


def report(cuts: list[Cut], seconds: float) -> str:
    counts = {verdict: sum(c.verdict == verdict for c in cuts)
              for verdict in ("repaired", "harmless", "failed")}
    reproduced = [c for c in cuts if c.restored is not None]
    lines = [f"{len(cuts)} cuts of dvc.lock tried in {seconds:.0f} s: "
             f"{counts['repaired']} repaired, {counts['harmless']} harmless (DVC reads them as "
             f"changed), {counts['failed']} failed",
             f"dvc repro after {len(reproduced)} of them ("
             f"{sum(not c.repaired for c in reproduced)} harmless, "
             f"{sum(bool(c.repaired) for c in reproduced)} repaired): "
             f"{sum(c.restored or 0 for c in reproduced)} stages restored from the run-cache"]
    kinds: dict[str, int] = {}
    for c in cuts:
        if c.kind:
            kind = c.kind.split(",")[0]  # the hash name and stage vary
            kinds[kind] = kinds.get(kind, 0) + 1
    lines += [f"  dvc.lock {kind}: {n}" for kind, n in sorted(kinds.items())]
    lines += [f"  FAILED at byte {c.at}: {c.problem}" for c in cuts if c.problem]
    return "\n".join(lines)


worker: Reference | None = None  # a worker process's own copy of the project


def start_worker(ref: Reference, root: str) -> None:
    global worker
    copy = Path(tempfile.mkdtemp(dir=root)) / "project"
    shutil.copytree(ref.project, copy, symlinks=True)
    worker = dataclasses.replace(ref, project=copy)


def try_in_worker(job: tuple[int, bool]) -> Cut:
    at, full_if_repaired = job
    return try_cut(worker, Cut(at), full_if_repaired)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=300, help="random byte offsets to cut at")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", type=int, default=30,
                        help="cuts that dvc repro checks after the repair repaired them")
    parser.add_argument("--jobs", type=int, default=2, help="copies of the project at work")
    parser.add_argument("--not-in-git", action="store_true",
                        help="git holds no dvc.lock: the repair removes a cut one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ref = finished_project(Path(tmp), in_git=not args.not_in_git)
        start = time.perf_counter()
        ats = offsets(ref.lock, args.random, args.seed)
        sample = set(random.Random(args.seed).sample(ats, min(args.sample, len(ats))))
        cuts = []
        with ProcessPoolExecutor(args.jobs, initializer=start_worker,
                                 initargs=(ref, tmp)) as pool:
            for cut in pool.map(try_in_worker, [(at, at in sample) for at in ats]):
                cuts.append(cut)
                if len(cuts) % 100 == 0:  # a sign of life: a whole run takes a while
                    print(f"{len(cuts)} of {len(ats)} cuts, "
                          f"{time.perf_counter() - start:.0f} s", file=sys.stderr)
        lines = ref.lock.count(b"\n")
        print(f"dvc.lock: {len(ref.lock)} bytes, {lines} lines; git holds it: {ref.in_git}")
        print(report(cuts, time.perf_counter() - start))
    sys.exit(1 if any(c.problem for c in cuts) else 0)


if __name__ == "__main__":
    main()
