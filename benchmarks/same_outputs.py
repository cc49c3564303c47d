"""What a change must keep: a first ``dvc repro`` here and at git revision REV, on the same
generated data, compared file by file. Every model's weights are compared tensor by tensor,
its card (how it was made, its history; "record" in older versions) key by key, every file of
the live view and the metrics byte for byte, and each model's history, test confusion counts and
most-wrong grid, in whichever layout each version writes them.

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


def per_model(project: Path, name: str) -> dict[str, object] | None:
    """A model's history rows, test confusion counts and most-wrong grid, read from the layout
    this version writes (one history and one confusion file for every model), or from the
    older one (plots/<model>/: its train.csv or history.csv, confusion pairs, PNG); None if
    neither is there."""
    import csv
    from collections import Counter

    one = project / "plots" / name
    if (project / "plots" / "history.csv").is_file():
        def rows(file):
            return [row for row in csv.DictReader((project / "plots" / file).open())
                    if row.pop("model") == name]
        confusion = Counter({(r["actual"], r["predicted"]): int(r["count"])
                             for r in rows("confusion.csv")})
        return {"history": rows("history.csv"), "confusion": confusion,
                "most_wrong": (project / "plots" / "most_wrong" / f"{name}.png").read_bytes()}
    history = next((one / f for f in ("history.csv", "train.csv") if (one / f).is_file()), None)
    if history is None:
        return None
    pairs = list(csv.DictReader((one / "confusion.csv").open()))
    return {"history": list(csv.DictReader(history.open())),
            "confusion": Counter((r["actual"], r["predicted"]) for r in pairs),
            "most_wrong": (one / "most_wrong.png").read_bytes()}


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
    models = yaml.safe_load((here / "params.yaml").read_text())["models"]
    for name in models:  # evaluate's plots, whichever layout each version writes
        mine, theirs = per_model(here, name), per_model(there, name)
        other_diffs += [f"plots of {name}: {key}" for key in ("history", "confusion", "most_wrong")
                        if not (mine and theirs and mine[key] == theirs[key])]
    for folder in ("live", "metrics"):
        files = {p.relative_to(here) for p in (here / folder).rglob("*") if p.is_file()}
        files |= {p.relative_to(there) for p in (there / folder).rglob("*") if p.is_file()}
        other_diffs += [str(f) for f in sorted(files) if not (here / f).is_file()
                        or not (there / f).is_file()
                        or (here / f).read_bytes() != (there / f).read_bytes()]
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
