"""Score a trained variant on the validation and test splits.

Produces the metrics file's content (loss and accuracy per split, per-class accuracy on test,
how the model was trained) and the test split's ``(actual, predicted)`` pairs for DVC's
confusion-matrix plot.
"""

from __future__ import annotations

import torch

from mnist_pipeline.batches import TensorBatches, WrappedBatches
from mnist_pipeline.devices import resolve_device
from mnist_pipeline.formats import CLASSES
from mnist_pipeline.models import variant
from mnist_pipeline.params import Params
from mnist_pipeline.tensors import load_split
from mnist_pipeline.training import predict, score
from mnist_pipeline.weights import load_weights

DIGITS = 6  # metrics are rounded so files stay readable and diffs show real changes


def per_class_accuracy(predicted: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    result = {}
    for label in range(CLASSES):
        mask = targets == label
        if mask.any():
            result[str(label)] = round(float((predicted[mask] == label).float().mean()), DIGITS)
    return result


def evaluate_variant(name: str, params: Params, tensors_dir: str, weights_path: str):
    """Returns ``(metrics, confusion_rows)`` for variant ``name``."""
    device = resolve_device(params.train.device)
    model, metadata = load_weights(name, weights_path, device)
    spec = variant(name)
    metrics: dict[str, object] = {}
    confusion_rows: list[list[int]] = []
    for split in ("valid", "test"):
        batches = TensorBatches(*load_split(tensors_dir, split, str(device)), params.train.bs * 2)
        if spec.preprocess is not None:
            batches = WrappedBatches(batches, spec.preprocess)
        outputs, targets = predict(model, batches)
        loss, accuracy = score(spec.loss_func, outputs, targets)
        metrics[split] = {"loss": round(loss, DIGITS), "accuracy": round(accuracy, DIGITS)}
        if split == "test":
            predicted = outputs.argmax(dim=1)
            metrics[split]["per_class_accuracy"] = per_class_accuracy(predicted, targets)
            confusion_rows = torch.stack([targets, predicted], dim=1).cpu().tolist()
    metrics["train"] = {
        "device": metadata.get("device"),
        "epochs": metadata.get("epochs"),
    }
    return metrics, confusion_rows
