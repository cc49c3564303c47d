"""The evaluate stage's work, without torch: the model card that the train stage wrote into the
model file, as the files DVC compares across commits: ``metrics/<model>.json`` (the scores), the
per-epoch history, the test split's (actual, predicted) pairs for the confusion matrix and a
grid of the validation images the model gets most wrong.
"""

from dataclasses import dataclass
from pathlib import Path

from mnist_pipeline.core.atomic import write_csv, write_json
from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.core.model_files import read_card, write_history
from mnist_pipeline.core.tensor_files import read_images, split_path
from mnist_pipeline.evaluate.pictures import most_wrong_grid, save_png


@dataclass(frozen=True)
class ResultPaths:
    metrics: Path  # JSON for dvc metrics
    history: Path  # CSV, one row per epoch
    confusion: Path  # CSV of (actual, predicted) on the test split
    most_wrong: Path  # PNG


def write_results(name: str, weights: str | Path, tensors_dir: str | Path,
                  out: ResultPaths) -> None:
    card = read_card(weights, name)
    if "scores" not in card:
        raise PipelineError(f"{weights}: has no scores; train it again with this version")
    scores = card["scores"]
    write_json(out.metrics, {"valid": scores["valid"], "test": scores["test"]})
    write_history(out.history, card["history"])
    confusion = scores["confusion"]
    write_csv(out.confusion, ["actual", "predicted"],
              zip(confusion["actual"], confusion["predicted"], strict=True))
    wrong = scores["most_wrong"]
    images = read_images(split_path(tensors_dir, "valid"), wrong["index"])
    save_png(most_wrong_grid(images, wrong["actual"], wrong["predicted"]), out.most_wrong)
