"""The evaluate stage's files, all kept in git so that DVC compares them across commits without a
``dvc pull``: ``metrics/<model>.json`` (validation and test loss and accuracy), the training's
per-epoch history from the model card, the test split's (actual, predicted) pairs for the
confusion matrix and a grid of the validation images the model gets most wrong.
"""

from dataclasses import dataclass
from pathlib import Path

from mnist_pipeline.core.atomic import write_csv, write_json
from mnist_pipeline.core.model_files import write_history
from mnist_pipeline.core.tensor_files import read_images, split_path
from mnist_pipeline.evaluate.pictures import most_wrong_grid, save_png
from mnist_pipeline.evaluate.scoring import evaluate_model


@dataclass(frozen=True)
class ResultPaths:
    metrics: Path  # JSON for dvc metrics
    history: Path  # CSV, one row per epoch
    confusion: Path  # CSV of (actual, predicted) on the test split
    most_wrong: Path  # PNG


def write_results(name: str, weights: str | Path, tensors_dir: str | Path,
                  out: ResultPaths) -> None:
    evaluation = evaluate_model(name, weights, tensors_dir)
    write_json(out.metrics, evaluation.scores)
    write_history(out.history, evaluation.history)
    write_csv(out.confusion, ["actual", "predicted"], zip(*evaluation.confusion, strict=True))
    wrong = evaluation.most_wrong
    images = read_images(split_path(tensors_dir, "valid"), wrong["index"])
    save_png(most_wrong_grid(images, wrong["actual"], wrong["predicted"]), out.most_wrong)
