"""Repair what a SIGKILL of dvc can leave half-written, before ``make repro`` runs dvc again.

DVC rewrites ``.dvc/tmp/rwlock`` and ``dvc.lock`` in place (truncate, then write); a kill in
between leaves a file that every later dvc command refuses. With no dvc at work in the project,
docs/faults.md's procedures apply: remove the rwlock (it only describes running commands), and
take ``dvc.lock`` back from git's index (where ``core.autostage`` keeps the last whole one), or
remove it if git has none: the run-cache then restores every stage that had finished.

    python -m mnist_pipeline.core.dvc_repair [PROJECT]
"""

import json
import subprocess
import sys
from pathlib import Path

# What dvc says of a dvc.lock cut short: cut inside a key, or elsewhere in its YAML.
LOCK_REFUSED = ("'./dvc.lock' validation failed", "unable to read: 'dvc.lock'")


def dvc_at_work(project: Path) -> bool:
    """Whether a dvc command runs in ``project``. DVC's repository lock alone does not say:
    dvc lets it go while a stage's command runs, so the processes are asked too."""
    import psutil
    import zc.lockfile  # how DVC takes its locks (a dependency of dvc)

    try:
        zc.lockfile.LockFile(str(project / ".dvc" / "tmp" / "lock")).close()
    except zc.lockfile.LockError:
        return True
    except FileNotFoundError:  # no dvc has run here yet
        return False
    here = str(project.resolve())
    for process in psutil.process_iter(["cwd", "cmdline"]):
        cwd, command = process.info["cwd"], process.info["cmdline"] or []
        if cwd and (cwd == here or cwd.startswith(here + "/")) and any(
                Path(part).name == "dvc" for part in command[:3]):
            return True
    return False


def repair(project: Path = Path(".")) -> list[str]:
    """Repair the project's DVC files if dvc left them half-written; what was done, one
    sentence each (none when nothing needed it, or while a dvc command runs there)."""
    import zc.lockfile

    if dvc_at_work(project):
        return []
    done = []
    rwlock = project / ".dvc" / "tmp" / "rwlock"
    if rwlock.exists():
        guard = zc.lockfile.LockFile(str(rwlock.with_name("rwlock.lock")))  # DVC's, for it
        try:
            json.loads(rwlock.read_text())
        except ValueError:  # empty or cut short: what dvc reads as "JSON structure is corrupted"
            rwlock.unlink()
            done.append(f"removed {rwlock.relative_to(project)}, cut short by a killed dvc")
        finally:
            guard.close()
    status = subprocess.run(["dvc", "status"], cwd=project, capture_output=True, text=True)
    if any(message in status.stderr for message in LOCK_REFUSED):
        restored = subprocess.run(["git", "checkout", "--", "dvc.lock"], cwd=project,
                                  capture_output=True).returncode == 0
        if not restored:
            (project / "dvc.lock").unlink()
        done.append("dvc.lock was cut short by a killed dvc: " + (
            "took git's last staged copy" if restored else "removed it (git has none)")
            + "; finished stages come back from the run-cache")
    return done


if __name__ == "__main__":
    for line in repair(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")):
        print(f"repaired: {line}", file=sys.stderr)
