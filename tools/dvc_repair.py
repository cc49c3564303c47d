"""Repair what a SIGKILL of dvc can leave half-written, before ``make repro`` runs dvc again.

DVC rewrites ``.dvc/tmp/rwlock`` and ``dvc.lock`` in place (truncate, then write); a kill in
between leaves a file that later dvc commands refuse, each in its own words (docs/faults.md lists
them), or a lock that makes ``dvc repro`` retrain a finished stage. This decides from the files,
with DVC's own loaders, schemas and hash names:

* an rwlock DVC cannot read is removed (it only ever describes running commands);
* a ``dvc.lock`` DVC cannot use, or one DVC did not write whole, is replaced by git's staged
  copy (with ``core.autostage`` the index holds the lock of the last ``dvc repro`` that
  finished), or removed where git has none: the run-cache then restores every stage that had
  finished. Unless it is a part of git's copy (a cut of it), the file is kept as
  ``dvc.lock.refused``: a cut of a newer lock and a hand edit look alike.

Nothing is touched while a dvc runs in the project, or when git fails; one line says so. It lives
outside ``src/`` so that no stage depends on it: editing it reruns nothing.

    python tools/dvc_repair.py [PROJECT]

Prints one line per finding to stderr; exits 1 when a file needs a repair it could not make.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LOCK = "dvc.lock"
REFUSED = "dvc.lock.refused"  # where a refused lock that git's copy does not contain is kept
RWLOCK = Path(".dvc", "tmp", "rwlock")


class NotRepaired(Exception):
    """A file needs a repair that was not made; the message says why, in one line."""


def dvc_at_work(project: Path) -> str | None:
    """What shows that a dvc command runs in ``project``, or None. DVC's repository lock alone
    does not say: dvc lets it go while a stage's command runs, so the processes are asked too."""
    import psutil
    import zc.lockfile  # how DVC takes its locks (a dependency of dvc)

    try:
        zc.lockfile.LockFile(str(project / ".dvc" / "tmp" / "lock")).close()
    except zc.lockfile.LockError:
        return "DVC's repository lock (.dvc/tmp/lock) is held"
    except FileNotFoundError:  # no dvc has run here yet
        return None
    here = str(project.resolve())
    for process in psutil.process_iter(["cwd", "cmdline"]):
        cwd, command = process.info["cwd"], process.info["cmdline"] or []
        if cwd and (cwd == here or cwd.startswith(here + "/")) and runs_dvc(command):
            return f"pid {process.pid} runs {' '.join(command)}"
    return None


def runs_dvc(command: list[str]) -> bool:
    """Whether a command line is dvc's: the ``dvc`` program, or Python running dvc, as
    ``python -m dvc`` or as the ``dvc`` console script pip installs, which the kernel runs as
    ``[python, .../bin/dvc, ...]``."""
    program = Path(command[0]).name if command else ""
    if not program.startswith("python"):
        return program == "dvc"
    script = next((part for part in command[1:] if not part.startswith("-")), "")
    return Path(script).name == "dvc"  # after -m too


def rwlock_problem(text: str) -> str | None:
    """Why DVC cannot read this rwlock (``dvc/rwlock.py``'s own parse and schema), or None."""
    from dvc.rwlock import SCHEMA
    from voluptuous import Invalid

    try:
        SCHEMA(json.loads(text))
    except json.JSONDecodeError:
        return "not JSON"
    except Invalid:
        return "not in DVC's rwlock schema"
    return None


def lock_problem(data: bytes) -> str | None:
    """What is wrong with these bytes as DVC's lock file, or None. They are parsed and validated
    as ``dvc.dvcfile.Lockfile`` loads them (DVC's YAML parser, then its lock file schema); each
    dependency's and output's hash name must be one DVC can compute (a cut ``hash: m`` passes
    the schema, then fails every ``dvc status``). Then it must be whole, as DVC writes every
    lock: ending with a newline, and each md5 with its size (a folder's with its file count).
    DVC reads the other cuts, but trusts what they say of a stage's outputs: cut inside an
    output's md5 (or before its ``.dir``), ``dvc repro`` finds no such object in the cache and
    retrains the stage, never asking the run-cache; cut before its size, it keeps a lock without
    it."""
    from dvc.dvcfile import Lockfile
    from dvc.utils.serialize import YAMLFileCorruptedError, parse_yaml
    from dvc.utils.strictyaml import YAMLValidationError, validate
    from dvc_data.hashfile.hash import algorithms_available

    try:
        parsed = validate(parse_yaml(data.decode("utf-8"), LOCK), Lockfile.SCHEMA)
    except (UnicodeDecodeError, YAMLFileCorruptedError):
        return "is not valid YAML"
    except YAMLValidationError:
        return "is not in DVC's lock file schema"
    for name, stage in (parsed.get("stages") or {}).items():
        for entry in (stage.get("deps") or []) + (stage.get("outs") or []):
            if problem := entry_problem(entry, algorithms_available):
                return f"{problem}, in stage {name}"
    if data and not data.endswith(b"\n"):
        return "ends mid-line"
    return None


def entry_problem(entry: dict, hash_names: set[str]) -> str | None:
    """What is wrong with a dependency or output of a lock (``hash_names``: those DVC can
    compute), or None."""
    if entry.get("hash", "md5") not in hash_names:
        return f"names a hash DVC cannot compute, {entry['hash']!r}"
    if "md5" in entry:
        wanted = ("size", "nfiles") if str(entry["md5"]).endswith(".dir") else ("size",)
        if missing := [key for key in wanted if key not in entry]:
            return f"lacks the {' and '.join(missing)} DVC writes with an md5, for {entry['path']}"
    return None


def git(project: Path, *args: str) -> bytes:
    """git's output; its error, in one line, as NotRepaired."""
    done = subprocess.run(["git", *args], cwd=project, capture_output=True)
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").splitlines()
        said = next((line for line in lines if line.startswith(("fatal:", "error:"))),
                    next((line for line in lines if line.strip()), f"exit {done.returncode}"))
        raise NotRepaired(f"git {' '.join(args)} failed: {said.strip()}")
    return done.stdout


def staged_lock(project: Path) -> bytes | None:
    """git's staged ``dvc.lock``, or None where git has none."""
    entries = git(project, "ls-files", "--stage", "-z", "--", LOCK).split(b"\0")
    stages = {entry.split()[2]: entry.split()[1].decode() for entry in entries if entry}
    if stages and b"0" not in stages:  # only the sides of a merge
        raise NotRepaired(f"{LOCK} is unmerged in git: finish or abort the merge first")
    return git(project, "cat-file", "blob", stages[b"0"]) if stages else None


def repair_lock(project: Path) -> str | None:
    """Replace or remove a ``dvc.lock`` DVC cannot use or did not write whole (see the module's
    docstring); what was done."""
    lock = project / LOCK
    if not lock.exists() or not (problem := lock_problem(refused := lock.read_bytes())):
        return None
    try:
        staged = staged_lock(project)
    except NotRepaired as failed:
        raise NotRepaired(f"{LOCK} {problem}; left as it is: {failed}") from None
    cut_of_git = staged is not None and staged.startswith(refused)
    said = (f"{LOCK} was cut short by a killed dvc (it {problem})" if cut_of_git else
            f"{LOCK} {problem} and is no part of git's staged copy: cut short by a killed dvc, "
            "or edited by hand")
    kept = f", and kept it as it was in {REFUSED} (hand edits, if any)"
    if not cut_of_git:  # kept before the only copy goes
        (project / REFUSED).write_bytes(refused)
    if staged is None or (staged_problem := lock_problem(staged)):
        lock.unlink()
        done = ("removed it (git has none)" if staged is None else
                f"removed it (git's staged copy {staged_problem} too)")
    else:
        try:
            git(project, "checkout", "--", LOCK)
        except NotRepaired as failed:
            raise NotRepaired(f"{said}; left as it is: {failed}") from None
        done = "took git's staged copy"
    return (f"{said}: {done}{'' if cut_of_git else kept}; "
            "finished stages come back from the run-cache")


def repair_rwlock(project: Path) -> str | None:
    """Remove an rwlock DVC cannot read, under DVC's own guard of it; what was done."""
    import zc.lockfile

    rwlock = project / RWLOCK
    if not rwlock.exists():
        return None
    guard = zc.lockfile.LockFile(str(rwlock.with_name("rwlock.lock")))
    try:
        problem = rwlock_problem(rwlock.read_text(errors="replace"))
        if problem:
            rwlock.unlink()
    finally:
        guard.close()
    return problem and f"removed {RWLOCK.as_posix()} ({problem}), cut short by a killed dvc"


def repair(project: Path = Path(".")) -> list[str]:
    """Repair the project's DVC files if dvc left them half-written: what was done, one line
    each (none when nothing needed it). Raises NotRepaired when a repair could not be made."""
    if busy := dvc_at_work(project):
        return [f"checked nothing: a dvc is at work in this project: {busy}"]
    return [f"repaired: {done}" for done in (repair_rwlock(project), repair_lock(project))
            if done]


def main() -> int:
    try:
        for line in repair(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")):
            print(line, file=sys.stderr)
    except NotRepaired as failed:
        print(f"not repaired: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
