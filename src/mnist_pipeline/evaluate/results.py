"""The evaluate stage's work, without torch: the model file's record as ``metrics/<model>.json``,
the per-epoch history, the test confusion pairs and a grid of the images most wrong.
"""

from dataclasses import dataclass
from pathlib import Path

from mnist_pipeline.core.atomic import write_csv, write_json
from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.core.model_files import read_record
from mnist_pipeline.core.names import HISTORY_COLUMNS
from mnist_pipeline.core.tensor_files import read_images, split_path
from mnist_pipeline.evaluate.pictures import most_wrong_grid, save_png


@dataclass(frozen=True)
class ResultPaths:
    metrics: Path  # JSON for dvc metrics
    history: Path  # CSV, one row per epoch
    confusion: Path  # CSV of (actual, predicted) on the test split
    most_wrong: Path  # PNG


def metrics(record: dict) -> dict[str, object]:
    evaluation = record["evaluation"]
    return {"valid": evaluation["valid"], "test": evaluation["test"],
            "train": {"status": "done",  # while it trains, the train stage's "training"
                      **{key: record.get(key) for key in ("device", "epochs", "nproc")}}}


def write_results(name: str, weights: str | Path, tensors_dir: str | Path,
                  out: ResultPaths) -> None:
    record = read_record(weights, name)
    if "evaluation" not in record:
        raise PipelineError(f"{weights}: has no evaluation; train it again with this version")
    evaluation = record["evaluation"]
    write_json(out.metrics, metrics(record))
    write_csv(out.history, HISTORY_COLUMNS,
              [[row[column] for column in HISTORY_COLUMNS] for row in record["history"]])
    confusion = evaluation["confusion"]
    write_csv(out.confusion, ["actual", "predicted"],
              [list(pair) for pair in zip(confusion["actual"], confusion["predicted"],
                                          strict=True)])
    wrong = evaluation["most_wrong"]
    images = read_images(split_path(tensors_dir, "valid"), wrong["index"])
    save_png(most_wrong_grid(images, wrong["actual"], wrong["predicted"]), out.most_wrong)
