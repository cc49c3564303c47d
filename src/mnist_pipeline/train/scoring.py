"""The trained model's scores, in the process that trained it, for its model card: loss and
accuracy on the validation and test splits, the test labels and predictions (the evaluate
stage's confusion matrix) and the validation images it gets most wrong.
"""

import numpy as np
import torch
import torch.nn.functional as F

from mnist_pipeline.train.batches import in_order
from mnist_pipeline.tutorial.data import WrappedDataLoader

DIGITS = 6  # scores are rounded so files stay readable and diffs show real changes
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


def most_wrong(log_probs: np.ndarray, targets: np.ndarray, count: int = MOST_WRONG) -> np.ndarray:
    """Indices of the ``count`` samples with the highest loss, worst first (ties: lower index)."""
    losses = -log_probs[np.arange(len(targets)), targets]
    return np.argsort(-losses, kind="stable")[:count]


def score_model(model, loss_func, reshape_batches, valid, test, bs: int,
                valid_outputs: torch.Tensor | None = None) -> dict[str, object]:
    """The scores of ``model`` on the ``(x, y)`` splits ``valid`` and ``test``, in batches of
    ``bs`` (reshaped as in training); ``valid_outputs``, if given, are its outputs for ``valid``
    already, in the same batches."""
    scores: dict[str, object] = {}
    for split, (x, y) in (("valid", valid), ("test", test)):
        if split == "valid" and valid_outputs is not None:
            outputs, targets = valid_outputs, y
        else:
            batches = in_order(x, y, bs)
            if reshape_batches is not None:  # what the adaptive CNN's loader does
                batches = WrappedDataLoader(batches, reshape_batches)
            outputs, targets = predict(model, batches)
        loss, accuracy = score(loss_func, outputs, targets)
        scores[split] = {"loss": round(loss, DIGITS), "accuracy": round(accuracy, DIGITS)}
        predicted = outputs.argmax(dim=1)
        if split == "valid":
            # log_softmax also turns scratch's log-probabilities into themselves.
            log_probs = F.log_softmax(outputs, dim=1).cpu().numpy()
            actual, guessed = targets.cpu().numpy(), predicted.cpu().numpy()
            worst = most_wrong(log_probs, actual)
            scores["most_wrong"] = {"index": worst.tolist(), "actual": actual[worst].tolist(),
                                    "predicted": guessed[worst].tolist()}
        else:
            # Labels 0-9 as one digit each: 10,000 test labels take 10 kB of metadata, not 50.
            scores["confusion"] = {"actual": "".join(map(str, targets.tolist())),
                                   "predicted": "".join(map(str, predicted.tolist()))}
    return scores
