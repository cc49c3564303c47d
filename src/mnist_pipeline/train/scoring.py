"""Score the trained model on the validation and test splits, in the process that trained it,
for its model file's record: loss and accuracy, per-class accuracy, the test labels and
predictions, and the validation images it gets most wrong.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from mnist_pipeline.core.names import CLASSES
from mnist_pipeline.train.batches import BatchIndices
from mnist_pipeline.tutorial.data import WrappedDataLoader
from mnist_pipeline.tutorial.models import Variant

DIGITS = 6  # metrics are rounded so files stay readable and diffs show real changes
MOST_WRONG = 24  # validation images shown in the most-wrong grid


@torch.no_grad()
def predict(model, batches) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's outputs for every batch, and the matching targets, concatenated."""
    model.eval()
    outputs, targets = [], []
    for xb, yb in batches:
        outputs.append(model(xb))
        targets.append(yb)
    return torch.cat(outputs), torch.cat(targets)


def score(loss_func, outputs: torch.Tensor, targets: torch.Tensor) -> tuple[float, float]:
    """Mean loss and accuracy over a whole split."""
    loss = loss_func(outputs, targets)
    accuracy = (outputs.argmax(dim=1) == targets).float().mean()
    return float(loss), float(accuracy)


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


def evaluate(model, variant: Variant, valid, test, bs: int,
             valid_outputs: torch.Tensor | None = None) -> dict[str, object]:
    """The evaluation record of ``model`` (batches of ``bs``); ``valid_outputs``, if given, are
    its outputs for ``valid`` already (from the last epoch's validation, in the same batches)."""
    record: dict[str, object] = {}
    for split, (x, y) in (("valid", valid), ("test", test)):
        if split == "valid" and valid_outputs is not None:
            outputs, targets = valid_outputs, y
        else:
            dl = DataLoader(TensorDataset(x, y), batch_size=None,
                            sampler=BatchIndices(len(y), bs))
            if variant.preprocess is not None:  # what the adaptive CNN's loader does
                dl = WrappedDataLoader(dl, variant.preprocess)
            outputs, targets = predict(model, dl)
        loss, accuracy = score(variant.loss_func, outputs, targets)
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
            # Labels 0-9 as one digit each: 10,000 test labels take 10 kB of metadata, not 50.
            record["confusion"] = {"actual": "".join(map(str, targets.tolist())),
                                   "predicted": "".join(map(str, predicted.tolist()))}
    return record
