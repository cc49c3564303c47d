"""Build a throw-away copy of this project in a temp dir: real git, real dvc, generated data."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from mnist_pipeline.fetch.dataset import file_md5

ROOT = Path(__file__).resolve().parents[1]
REPAIR = [sys.executable, str(ROOT / "tools" / "dvc_repair.py")]  # what `make repro` runs first
COPIED = ["dvc.yaml", "params.yaml", ".dvcignore", ".gitignore", ".dvc/config", ".dvc/.gitignore",
          *(path.relative_to(ROOT).as_posix() for path in sorted((ROOT / ".dvc/plots").iterdir()))]
RUNNING = re.compile(r"Running stage '([^']+)'")
RESTORED = re.compile(r"Stage '([^']+)' is cached - skipping run")


def run(args: list[str], cwd: Path, check: bool = True, timeout: int = 600, env=None):
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            env=env)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result


def stages_run(output: str) -> list[str]:
    """The stages a ``dvc repro`` actually executed, from its output."""
    return RUNNING.findall(output)


def create_project(dest: Path, data_url: str, data_file: Path, **train) -> Path:
    """Copy the pipeline into ``dest``, point it at ``data_url`` and commit it."""
    copy_project(dest, data_url, data_file, **train)
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-q", "-m", "pipeline"], dest)
    return dest


def copy_project(dest: Path, data_url: str, data_file: Path, **train) -> Path:
    """Copy the pipeline into ``dest``, over what is there, and point it at ``data_url``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)
    for folder in ("stages", "src"):
        shutil.copytree(ROOT / folder, dest / folder, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    set_params(dest, {
        "data.url": data_url,
        "data.mirrors": [],  # the project's mirrors are on the internet: tests stay on 127.0.0.1
        "data.md5": file_md5(data_file),
        "data.size": data_file.stat().st_size,
        "data.retry_backoff_s": 0.05,
        "train.epochs": 1,
        "train.device": "cpu",  # the same results, and the same speed, on a machine with a GPU
        **{f"train.{key}": value for key, value in train.items()},
    })
    return dest


def set_params(project: Path, changes: dict[str, object]) -> None:
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = params
        for key in parents:
            node = node[key]
        node[last] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def stages_restored(output: str) -> list[str]:
    """The stages a ``dvc repro`` restored from the run-cache instead of running."""
    return RESTORED.findall(output)


def repro(project: Path, *args: str) -> list[str]:
    return stages_run(run(["dvc", "repro", *args], project).stdout)
