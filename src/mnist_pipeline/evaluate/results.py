"""The evaluate stage's files, for every model in one process (torch starts once), all kept in
git so that DVC compares them across commits without a ``dvc pull``: ``metrics/<model>.json``
(validation and test loss and accuracy), one history of every model's epochs (from the model
cards), one confusion matrix of every model's test predictions (a count per model, actual and
predicted digit) and a grid per model of the validation images it gets most wrong.
"""

from dataclasses import dataclass
from pathlib import Path

from mnist_pipeline.core.atomic import write_csv, write_json
from mnist_pipeline.core.names import HISTORY_COLUMNS
from mnist_pipeline.evaluate.pictures import most_wrong_grid, save_png
from mnist_pipeline.evaluate.scoring import evaluate_model, load_splits


@dataclass(frozen=True)
class ResultPaths:
    metrics: Path  # a folder: <model>.json for dvc metrics
    history: Path  # CSV: model, then a row per epoch
    confusion: Path  # CSV: model, actual, predicted, count (test split)
    most_wrong: Path  # a folder: <model>.png


def write_results(names: list[str], models: str | Path, tensors: str | Path,
                  out: ResultPaths) -> None:
    """Score each model of ``names`` (``<models>/<name>.safetensors``) on ``tensors``."""
    splits = load_splits(tensors)
    history, confusion = [], []
    for name in names:
        evaluation = evaluate_model(name, Path(models) / f"{name}.safetensors", splits)
        write_json(out.metrics / f"{name}.json", evaluation.scores)
        history += [[name, *(row[column] for column in HISTORY_COLUMNS)]
                    for row in evaluation.history]
        confusion += [[name, actual, predicted, count]
                      for (actual, predicted), count in sorted(evaluation.confusion.items())]
        wrong = evaluation.most_wrong
        images = splits["valid"][0][wrong["index"]].numpy()
        save_png(most_wrong_grid(images, wrong["actual"], wrong["predicted"]),
                 out.most_wrong / f"{name}.png")
    write_csv(out.history, ["model", *HISTORY_COLUMNS], history)
    write_csv(out.confusion, ["model", "actual", "predicted", "count"], confusion)
