"""Score a trained variant on the validation and test splits.

Produces the metrics file's content (loss and accuracy per split, per-class accuracy on test,
how the model was trained), the training's per-epoch history (read from the weight file), the
test split's ``(actual, predicted)`` pairs for DVC's confusion-matrix plot, and a picture of the
validation images the model gets most wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL.Image import Image

from mnist_pipeline.batches import TensorBatches
from mnist_pipeline.devices import resolve_device
from mnist_pipeline.formats import CLASSES
from mnist_pipeline.models import variant
from mnist_pipeline.params import Params
from mnist_pipeline.pictures import most_wrong_grid
from mnist_pipeline.tensors import load_split
from mnist_pipeline.training import predict, score
from mnist_pipeline.weights import load_weights

DIGITS = 6  # metrics are rounded so files stay readable and diffs show real changes


def per_class_accuracy(predicted: torch.Tensor, targets: torch.Tensor) -> dict[str, float | None]:
    """Accuracy per true label; ``None`` for a label the split lacks, so the keys never vary."""
    result: dict[str, float | None] = {}
    for label in range(CLASSES):
        mask = targets == label
        accuracy = (predicted[mask] == label).float().mean() if mask.any() else None
        result[str(label)] = None if accuracy is None else round(float(accuracy), DIGITS)
    return result


@dataclass
class Evaluation:
    metrics: dict[str, object]
    history: list[dict[str, float]]  # one row per training epoch
    confusion_rows: list[list[int]]  # (actual, predicted) per test image
    most_wrong: Image  # the validation images with the highest loss


def evaluate_variant(name: str, params: Params, tensors_dir: str, weights_path: str) -> Evaluation:
    device = resolve_device(params.train.device)
    model, metadata = load_weights(name, weights_path, device)
    spec = variant(name)
    metrics: dict[str, object] = {}
    for split in ("valid", "test"):
        x, y = load_split(tensors_dir, split, str(device))
        outputs, targets = predict(model, spec.loader(TensorBatches(x, y, params.train.bs * 2)))
        loss, accuracy = score(spec.loss_func, outputs, targets)
        metrics[split] = {"loss": round(loss, DIGITS), "accuracy": round(accuracy, DIGITS)}
        if split == "valid":
            # log_softmax also turns scratch's log-probabilities into themselves.
            log_probs = F.log_softmax(outputs, dim=1).cpu().numpy()
            most_wrong = most_wrong_grid(x.cpu().numpy(), targets.cpu().numpy(), log_probs)
        else:
            predicted = outputs.argmax(dim=1)
            metrics[split]["per_class_accuracy"] = per_class_accuracy(predicted, targets)
            confusion_rows = torch.stack([targets, predicted], dim=1).cpu().tolist()
    metrics["train"] = {"device": metadata.get("device"), "epochs": metadata.get("epochs")}
    return Evaluation(metrics, metadata.get("history", []), confusion_rows, most_wrong)
