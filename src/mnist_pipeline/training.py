"""The training loop: the tutorial's ``loss_batch`` and ``fit``, plus one epoch's record.

``fit`` validates after every epoch and returns, per epoch, the mean training loss, the
validation loss and the validation accuracy. Losses are summed on the device and read back every
``CHECK_EVERY`` steps and once per epoch, not once per batch, so a GPU is not stalled by a host
sync on every step. Around the tutorial's loop, ``fit`` also:

* starts after the epochs in ``history`` (a run resumed from its checkpoint) and calls
  ``on_epoch_end`` after each epoch (to write the next checkpoint);
* stops a run whose loss turns NaN or infinite (:class:`DivergenceError`, naming the epoch and
  step) instead of training on garbage;
* turns an interruption (Ctrl-C, or SIGTERM as the train stage maps it) into
  :class:`TrainingInterrupted`, which says where it stopped;
* with several ranks (``ranks``), reduces the losses and the validation metrics across them.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

import torch

from mnist_pipeline.batches import Batch
from mnist_pipeline.distributed import SINGLE, Ranks
from mnist_pipeline.errors import PipelineError

log = logging.getLogger(__name__)

LossFunc = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
CHECK_EVERY = 50  # steps between checks for a NaN or infinite loss (one host sync each)


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    train_loss: float
    valid_loss: float
    valid_accuracy: float

    def as_row(self) -> dict[str, float]:
        return asdict(self)


class DivergenceError(PipelineError, ArithmeticError):
    """The loss became NaN or infinite; ``epoch`` and ``where`` (e.g. "at step 12") say where."""

    def __init__(self, epoch: int, where: str, value: float) -> None:
        super().__init__(f"the loss became {value} in epoch {epoch} {where}")
        self.epoch, self.where, self.value = epoch, where, value


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on a signal in ``epoch`` (``where`` in it, e.g. "after step 300")."""

    def __init__(self, epoch: int, where: str) -> None:
        super().__init__(f"interrupted in epoch {epoch} {where}")
        self.epoch, self.where = epoch, where


class _StoppedAt(Exception):
    def __init__(self, step: int | None) -> None:
        self.where = f"after step {step}" if step else "before its first step"


class _Diverged(Exception):
    def __init__(self, where: str, value: float) -> None:
        self.where, self.value = where, value


def loss_batch(model, loss_func: LossFunc, xb, yb, opt=None) -> tuple[torch.Tensor, int]:
    """One batch's loss; with ``opt``, also one optimisation step (as in the tutorial)."""
    loss = loss_func(model(xb), yb)
    if opt is not None:
        loss.backward()
        opt.step()
        opt.zero_grad()
    return loss.detach(), len(xb)


def train_epoch(model, loss_func: LossFunc, opt, batches, desc: str = "train",
                ranks: Ranks = SINGLE) -> float:
    """One pass over ``batches``; returns the sample-weighted mean training loss (all ranks)."""
    model.train()
    losses, sizes = [], []
    step = None
    try:
        for step, (xb, yb) in enumerate(_progress(batches, desc, ranks), 1):
            loss, n = loss_batch(model, loss_func, xb, yb, opt)
            losses.append(loss)  # stays on the device: no sync, and no extra op, per batch
            # With several ranks a sample counts as the share of the batch its rank held.
            sizes.append(n if ranks.world == 1 else batches.share * batches.rows)
            if step % CHECK_EVERY == 0:
                _check_finite(losses[-CHECK_EVERY:], step - CHECK_EVERY, ranks)
        stacked = torch.stack(losses)
        weights = torch.tensor(sizes, dtype=stacked.dtype, device=stacked.device)
        totals = ranks.sum_(torch.stack([stacked @ weights, weights.sum()]))
    except KeyboardInterrupt as stop:
        raise _StoppedAt(step) from stop
    mean = float(totals[0]) / float(totals[1])
    if not math.isfinite(mean):
        _check_finite(losses, 0)
        raise _Diverged("on another rank", mean)
    return mean


def _check_finite(losses: Sequence[torch.Tensor], offset: int, ranks: Ranks = SINGLE) -> None:
    """Raise :class:`_Diverged` if a loss is NaN or infinite, on every rank at once."""
    finite = torch.isfinite(torch.stack(list(losses)))
    # All ranks check at the same steps and agree before any raises: a rank that stopped
    # alone would leave the others waiting in their next all-reduce.
    bad = ranks.sum_((~finite).any().to(losses[0].dtype).reshape(1))
    if float(bad[0]) == 0:
        return
    if bool(finite.all()):
        raise _Diverged("on another rank", math.nan)
    first = int((~finite).nonzero()[0])
    raise _Diverged(f"at step {offset + first + 1}", float(losses[first]))


def _progress(batches, desc: str, ranks: Ranks):
    # A bar on a terminal (rank 0 only), nothing in logs and CI; tqdm is imported only then.
    if not (ranks.is_main and sys.stderr.isatty()):
        return batches
    from tqdm import tqdm

    return tqdm(batches, desc=desc, unit="batch", leave=False)


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


def validate(model, loss_func: LossFunc, batches, ranks: Ranks = SINGLE) -> tuple[float, float]:
    """Validation loss and accuracy; with several ranks, each scores its rows and they are
    combined, weighted by rows."""
    outputs, targets = predict(model, batches)
    loss, accuracy = score(loss_func, outputs, targets)
    if ranks.world == 1:
        return loss, accuracy
    n = len(targets)
    totals = ranks.sum_(torch.tensor([loss * n, accuracy * n, n], dtype=torch.float64,
                                     device=outputs.device))
    return float(totals[0] / totals[2]), float(totals[1] / totals[2])


def fit(epochs: int, model, loss_func: LossFunc, opt, train_dl, valid_dl, *,
        history: Sequence[EpochRecord] = (),
        on_epoch_end: Callable[[list[EpochRecord]], None] | None = None,
        ranks: Ranks = SINGLE) -> list[EpochRecord]:
    """The tutorial's ``fit``: train, then validate, once per epoch, after ``history``."""
    history = list(history)
    for epoch in range(len(history) + 1, epochs + 1):
        started = time.perf_counter()
        try:
            train_loss = train_epoch(model, loss_func, opt, train_dl, f"epoch {epoch}/{epochs}",
                                     ranks)
            valid_loss, valid_accuracy = validate(model, loss_func, valid_dl, ranks)
        except _StoppedAt as stop:
            raise TrainingInterrupted(epoch, stop.where) from stop.__cause__
        except _Diverged as bad:
            raise DivergenceError(epoch, bad.where, bad.value) from None
        except KeyboardInterrupt as stop:
            raise TrainingInterrupted(epoch, "in validation") from stop
        if not math.isfinite(valid_loss):
            raise DivergenceError(epoch, "in validation", valid_loss)
        record = EpochRecord(epoch, train_loss, valid_loss, valid_accuracy)
        if ranks.is_main:
            log.info(
                "epoch %d/%d  train_loss %.4f  valid_loss %.4f  valid_accuracy %.4f  (%.1f s)",
                epoch, epochs, train_loss, valid_loss, valid_accuracy,
                time.perf_counter() - started,
            )
        history.append(record)
        if on_epoch_end is not None:
            try:
                on_epoch_end(history)
            except KeyboardInterrupt as stop:
                raise TrainingInterrupted(epoch, "at its end") from stop
    return history
