"""A trained model's scores, computed from its model file and the tensor files: loss and
accuracy on the validation and test splits, the test split's confusion matrix (a count per
actual and predicted digit), and the validation images it gets most wrong.
"""

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from mnist_pipeline.core.model_files import read_card
from mnist_pipeline.core.tensor_files import load_split
from mnist_pipeline.train.batches import in_order, predict
from mnist_pipeline.train.devices import fastest_layout
from mnist_pipeline.tutorial.data import WrappedDataLoader
from mnist_pipeline.variants import VARIANTS, check_models

DIGITS = 6  # scores are rounded so files stay readable and diffs show real changes
MOST_WRONG = 24  # validation images shown in the most-wrong grid
Splits = dict[str, tuple[torch.Tensor, torch.Tensor]]  # split name: (x, y)


@dataclass(frozen=True)
class Evaluation:
    scores: dict[str, dict[str, float]]  # {"valid"|"test": {"loss", "accuracy"}}
    confusion: Counter  # (actual, predicted) on the test split: how many
    most_wrong: dict[str, list[int]]  # the validation rows: "index", "actual", "predicted"
    history: list[dict[str, float]]  # the training's, from the model card: a row per epoch


def load_model(name: str, path: str | Path, device: str = "cpu"):
    """Model ``name`` with the weights of the model file ``path``: ``(model, card)``."""
    check_models([name])
    card = read_card(path, name)
    model = VARIANTS[name].model().to(device)
    model.load_state_dict(load_file(str(path), device=device))
    fastest_layout(model, torch.device(device))  # as it trained, and as fast
    return model, card


def load_splits(tensors: str | Path) -> Splits:
    return {split: load_split(tensors, split) for split in ("valid", "test")}


def evaluate_model(name: str, weights: str | Path, splits: Splits) -> Evaluation:
    """Model ``name`` of the file ``weights``, scored on the CPU on the validation and test
    ``splits``, in the training's validation batches (reshaped as in training)."""
    model, card = load_model(name, weights)
    variant, bs = VARIANTS[name], 2 * int(card.get("bs", 64))
    outputs = {}
    for split, (x, y) in splits.items():
        batches = in_order(x, y, bs)
        if variant.reshape_batches is not None:  # what the adaptive CNN's loader does
            batches = WrappedDataLoader(batches, variant.reshape_batches)
        outputs[split] = predict(model, batches)
    scores = {split: score(variant.loss_func, *outputs[split]) for split in outputs}
    test_out, test_y = outputs["test"]
    valid_out, valid_y = outputs["valid"]
    # log_softmax also turns scratch's log-probabilities into themselves.
    worst = most_wrong(F.log_softmax(valid_out, dim=1).numpy(), valid_y.numpy())
    return Evaluation(
        scores, Counter(zip(test_y.tolist(), test_out.argmax(dim=1).tolist(), strict=True)),
        {"index": worst.tolist(), "actual": valid_y[worst].tolist(),
         "predicted": valid_out.argmax(dim=1)[worst].tolist()},
        card["history"])


def score(loss_func, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """Mean loss and accuracy over a whole split, rounded to ``DIGITS``."""
    loss = float(loss_func(outputs, targets))
    accuracy = float((outputs.argmax(dim=1) == targets).float().mean())
    return {"loss": round(loss, DIGITS), "accuracy": round(accuracy, DIGITS)}


def most_wrong(log_probs: np.ndarray, targets: np.ndarray, count: int = MOST_WRONG) -> np.ndarray:
    """Indices of the ``count`` samples with the highest loss, worst first (ties: lower index)."""
    losses = -log_probs[np.arange(len(targets)), targets]
    return np.argsort(-losses, kind="stable")[:count]
