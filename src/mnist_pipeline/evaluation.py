"""Score a trained model on the validation and test splits, in the process that trained it.

The train stage evaluates its model right after training (no second process, no second torch
import or CUDA start-up) and stores the result in the weight file's metadata; the evaluate stage
turns that record into the metrics and plot files without importing torch (see ``results``).
The record holds the loss and accuracy per split, the per-class accuracy on test, the test
split's ``(actual, predicted)`` labels for the confusion matrix, and which validation images the
model gets most wrong.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mnist_pipeline.batches import Batch, TensorBatches
from mnist_pipeline.models import Variant
from mnist_pipeline.registry import CLASSES
from mnist_pipeline.training import predict, score

DIGITS = 6  # metrics are rounded so files stay readable and diffs show real changes
MOST_WRONG = 24  # validation images shown in the most-wrong grid


def per_class_accuracy(predicted: torch.Tensor, targets: torch.Tensor) -> dict[str, float | None]:
    """Accuracy per true label; ``None`` for a label the split lacks, so the keys never vary."""
    result: dict[str, float | None] = {}
    for label in range(CLASSES):
        mask = targets == label
        accuracy = (predicted[mask] == label).float().mean() if mask.any() else None
        result[str(label)] = None if accuracy is None else round(float(accuracy), DIGITS)
    return result


def most_wrong(log_probs: np.ndarray, targets: np.ndarray, count: int = MOST_WRONG) -> np.ndarray:
    """Indices of the ``count`` samples with the highest loss, worst first (ties: lower index)."""
    losses = -log_probs[np.arange(len(targets)), targets]
    return np.argsort(-losses, kind="stable")[:count]


def labels_text(labels: torch.Tensor) -> str:
    """Labels 0-9 as one digit each: 10,000 test labels take 10 kB of metadata, not 50."""
    return "".join(map(str, labels.cpu().tolist()))


def evaluate(model, spec: Variant, valid: Batch, test: Batch, bs: int) -> dict[str, object]:
    """The evaluation record of ``model`` (batches of ``bs``)."""
    record: dict[str, object] = {}
    for split, (x, y) in (("valid", valid), ("test", test)):
        outputs, targets = predict(model, spec.loader(TensorBatches(x, y, bs)))
        loss, accuracy = score(spec.loss_func, outputs, targets)
        record[split] = {"loss": round(loss, DIGITS), "accuracy": round(accuracy, DIGITS)}
        predicted = outputs.argmax(dim=1)
        if split == "valid":
            # log_softmax also turns scratch's log-probabilities into themselves.
            log_probs = F.log_softmax(outputs, dim=1).cpu().numpy()
            actual, guessed = targets.cpu().numpy(), predicted.cpu().numpy()
            worst = most_wrong(log_probs, actual)
            record["most_wrong"] = {"index": worst.tolist(), "actual": actual[worst].tolist(),
                                    "predicted": guessed[worst].tolist()}
        else:
            record[split]["per_class_accuracy"] = per_class_accuracy(predicted, targets)
            record["confusion"] = {"actual": labels_text(targets),
                                   "predicted": labels_text(predicted)}
    return record
