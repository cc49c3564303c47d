"""The training loop: the tutorial's ``loss_batch`` and ``fit``, plus one epoch's record.

``fit`` validates after every epoch and returns, per epoch, the mean training loss, the
validation loss and the validation accuracy. Losses are summed on the device and read back once
per epoch, not once per batch, so a GPU is not stalled by a host sync on every step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import torch
from tqdm import tqdm

from mnist_pipeline.batches import Batch

log = logging.getLogger(__name__)

LossFunc = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    train_loss: float
    valid_loss: float
    valid_accuracy: float

    def as_row(self) -> dict[str, float]:
        return asdict(self)


def loss_batch(model, loss_func: LossFunc, xb, yb, opt=None) -> tuple[torch.Tensor, int]:
    """One batch's loss; with ``opt``, also one optimisation step (as in the tutorial)."""
    loss = loss_func(model(xb), yb)
    if opt is not None:
        loss.backward()
        opt.step()
        opt.zero_grad()
    return loss.detach(), len(xb)


def train_epoch(model, loss_func: LossFunc, opt, batches, desc: str = "train") -> float:
    """One pass over ``batches``; returns the sample-weighted mean training loss."""
    model.train()
    losses, sizes = [], []
    for xb, yb in tqdm(batches, desc=desc, unit="batch", disable=None, leave=False):
        loss, n = loss_batch(model, loss_func, xb, yb, opt)
        losses.append(loss)  # stays on the device: no sync, and no extra op, per batch
        sizes.append(n)
    weights = torch.tensor(sizes, dtype=losses[0].dtype, device=losses[0].device)
    return float(torch.stack(losses) @ weights) / sum(sizes)


@torch.no_grad()
def predict(model, batches: Iterable[Batch]) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's outputs for every batch, and the matching targets, concatenated."""
    model.eval()
    outputs, targets = [], []
    for xb, yb in batches:
        outputs.append(model(xb))
        targets.append(yb)
    return torch.cat(outputs), torch.cat(targets)


def score(loss_func: LossFunc, outputs: torch.Tensor, targets: torch.Tensor) -> tuple[float, float]:
    """Mean loss and accuracy over a whole split."""
    loss = loss_func(outputs, targets)
    accuracy = (outputs.argmax(dim=1) == targets).float().mean()
    return float(loss), float(accuracy)


def fit(epochs: int, model, loss_func: LossFunc, opt, train_dl, valid_dl) -> list[EpochRecord]:
    """The tutorial's ``fit``: train, then validate, once per epoch."""
    history = []
    for epoch in range(1, epochs + 1):
        train_loss = train_epoch(model, loss_func, opt, train_dl, f"epoch {epoch}/{epochs}")
        valid_loss, valid_accuracy = score(loss_func, *predict(model, valid_dl))
        record = EpochRecord(epoch, train_loss, valid_loss, valid_accuracy)
        log.info(
            "epoch %d/%d  train_loss %.4f  valid_loss %.4f  valid_accuracy %.4f",
            epoch, epochs, train_loss, valid_loss, valid_accuracy,
        )
        history.append(record)
    return history
