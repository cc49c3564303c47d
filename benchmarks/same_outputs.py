"""What a change must keep: a first ``dvc repro`` here and at git revision REV, on the same
generated data, compared file by file. Every model's weights are compared tensor by tensor,
its card (how it was made, its history; "record" in older versions) key by key, and every file
of the live view, the metrics and the plots byte for byte.

    python benchmarks/same_outputs.py --against REV [--sizes 5000 1000 1000] [--epochs 2]

Exits 1 if any weight differs; other differences are listed (a changed record or plot may be
intended, e.g. a new field).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from common import ROOT, checkout, dataset, make_project

COMPARED = ("live", "metrics", "plots")  # folders compared byte for byte, besides the models
# Files this version renamed, compared with their older names where REV has only those.
RENAMED = {"history.csv": "train.csv"}


def repro(source: Path, dest: Path, pickle_path: Path, epochs: int) -> Path:
    project = make_project(dest, pickle_path, epochs, "cpu", source)
    env = {**os.environ, "PYTHONPATH": str(project / "src"), "DVC_NO_ANALYTICS": "1"}
    done = subprocess.run(["dvc", "repro"], cwd=project, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"dvc repro failed in {source}:\n{done.stdout}{done.stderr}")
    return project


def weights(path: Path) -> dict[str, bytes]:
    from safetensors.numpy import load_file

    return {key: value.tobytes() for key, value in load_file(str(path)).items()}


def card(path: Path) -> dict:
    """A model file's metadata: one key holding JSON, whatever this version named it."""
    import json

    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        (value,) = (f.metadata() or {"": "{}"}).values()
    return json.loads(value)


def compare(here: Path, there: Path) -> tuple[list[str], list[str]]:
    """``(weights that differ, other files or card keys that differ)``."""
    weight_diffs, other_diffs = [], []
    for name in yaml.safe_load((here / "params.yaml").read_text())["models"]:
        path = Path("models") / f"{name}.safetensors"
        mine, theirs = weights(here / path), weights(there / path)
        weight_diffs += [f"{path}: {key}" for key in sorted(set(mine) | set(theirs))
                         if mine.get(key) != theirs.get(key)]
        ours, other = card(here / path), card(there / path)
        other_diffs += [f"{path}: card[{key!r}]" for key in sorted(set(ours) | set(other))
                        if ours.get(key) != other.get(key)]
    for folder in COMPARED:
        files = {p.relative_to(here) for p in (here / folder).rglob("*") if p.is_file()}
        files |= {p.relative_to(there) for p in (there / folder).rglob("*") if p.is_file()}
        for f in sorted(files):
            old = f.with_name(RENAMED.get(f.name, f.name))
            theirs = there / (f if (there / f).is_file() else old)
            if (here / f).is_file() and old != f and theirs.is_file():
                files.discard(old)  # compared here, under its new name
            if not (here / f).is_file() and f.name in RENAMED.values():
                continue  # REV's name of a file this version renamed
            if (not (here / f).is_file() or not theirs.is_file()
                    or (here / f).read_bytes() != theirs.read_bytes()):
                other_diffs.append(str(f))
    return weight_diffs, other_diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", metavar="REV", required=True)
    parser.add_argument("--sizes", type=int, nargs=3, default=(5000, 1000, 1000))
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    pickle_path, _ = dataset(tuple(args.sizes))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        here = repro(ROOT, tmp / "here", pickle_path, args.epochs)
        there = repro(checkout(args.against, tmp / "rev"), tmp / "there", pickle_path,
                      args.epochs)
        weight_diffs, other_diffs = compare(here, there)
    print(f"every model, {args.epochs} epochs, data {args.sizes}: against "
          f"{args.against}")
    print("weights: " + ("identical, tensor by tensor" if not weight_diffs
                         else "DIFFER: " + ", ".join(weight_diffs)))
    print("cards, live view, metrics and plots: " + ("identical" if not other_diffs
                                            else "differ: " + ", ".join(other_diffs)))
    sys.exit(1 if weight_diffs else 0)


if __name__ == "__main__":
    main()
