"""A markdown table of every model's results, short enough to paste into a pull request.

``dvc metrics show --md`` prints every key, per-class accuracies included (16 columns); this
prints the ones people compare first. It reads the workspace's ``metrics/<model>.json``.

    python -m mnist_pipeline.evaluate.summary [metrics folder]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mnist_pipeline.core.names import MODEL_NAMES

COLUMNS = [
    ("model", None),
    ("valid loss", ("valid", "loss")),
    ("valid accuracy", ("valid", "accuracy")),
    ("test loss", ("test", "loss")),
    ("test accuracy", ("test", "accuracy")),
    ("epochs", ("train", "epochs")),
    ("device", ("train", "device")),
]


def summary_table(metrics_dir: str | Path = "metrics") -> str:
    rows = []
    for name in MODEL_NAMES:
        path = Path(metrics_dir) / f"{name}.json"
        if not path.is_file():
            continue
        metrics = json.loads(path.read_text(encoding="utf-8"))
        cells = [f"`{name}`"]
        for _, (section, key) in COLUMNS[1:]:
            value = metrics.get(section, {}).get(key, "")
            cells.append(f"{value:.4f}" if isinstance(value, float) else str(value))
        rows.append(cells)
    if not rows:
        raise FileNotFoundError(f"no metrics/<model>.json in {metrics_dir}; run `dvc repro` first")
    header = [title for title, _ in COLUMNS]
    align = ["---"] + ["---:"] * 4 + ["---:", "---"]
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics_dir", nargs="?", default="metrics")
    print(summary_table(parser.parse_args().metrics_dir))


if __name__ == "__main__":
    main()
