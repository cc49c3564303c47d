"""What each epoch of the tutorial's ``fit`` yields, watched as fit's ``callbacks`` on every
rank: its training loss (each step's, summed), a NaN or infinite loss stopping the run on every
rank at once, and after each validation one more pass for what ``fit`` keeps no outputs of, the
accuracy: an :class:`EpochStats` for the history.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.train.batches import predict
from mnist_pipeline.train.ranks import SINGLE, Ranks

CHECK_EVERY = 50  # steps between the ranks' agreement that every loss is finite


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    train_loss: float
    valid_loss: float
    valid_accuracy: float


class DivergenceError(PipelineError, ArithmeticError):
    """The loss became NaN or infinite in ``epoch``, ``where`` in it (e.g. "at step 12")."""

    def __init__(self, epoch: int, where: str, value: float) -> None:
        super().__init__(f"the loss became {value} in epoch {epoch} {where}")


def batch_rows(step: int, bs: int, rows: int) -> int:
    """The rows of the whole batch at ``step`` (counted from 1) of an epoch over ``rows`` rows
    in batches of ``bs``: ``bs``, or what is left for the last."""
    return min(bs, rows - (step - 1) * bs)


@dataclass
class Monitor:
    """``fit``'s callbacks that make each epoch's :class:`EpochStats`, appended to ``history``
    (which holds the epochs a resumed run did before); ``on_epoch_end(history)`` runs after
    each. With several ranks each step's loss weighs as its whole batch, ``rows_of(step)``
    rows, whose mean loss the ranks' equal parts (or copies, for an uneven last batch)
    average to."""

    model: object
    valid_dl: object
    ranks: Ranks = SINGLE
    rows_of: Callable[[int], int] | None = None  # several ranks: batch_rows for the epoch
    history: list[EpochStats] = field(default_factory=list)
    on_epoch_end: Callable[[list[EpochStats]], None] | None = None

    def __post_init__(self) -> None:
        if self.ranks.world > 1 and self.rows_of is None:
            raise ValueError("several ranks need rows_of: the rows of each step's whole batch")
        self._start_epoch()

    @property
    def epoch(self) -> int:  # the epoch under way
        return len(self.history) + 1

    def _start_epoch(self) -> None:
        self.step, self.loss_sum, self.rows_sum, self.first_bad = 0, 0.0, 0, None

    def after_batch(self, loss: float, num: int) -> None:
        self.step += 1
        if self.rows_of is not None:
            num = self.rows_of(self.step)
        self.loss_sum += loss * num
        self.rows_sum += num
        if self.first_bad is None and not math.isfinite(loss):
            self.first_bad = (self.step, loss)
        if self.step % CHECK_EVERY == 0:
            self._check_finite()

    def after_epoch(self, epoch: int, val_loss: float) -> None:
        self._check_finite()
        outputs, targets = predict(self.model, self.valid_dl)  # the pass fit keeps no outputs of
        rows, correct = len(targets), int((outputs.argmax(dim=1) == targets).sum())
        totals = self.ranks.sum_(torch.tensor([self.loss_sum, self.rows_sum, val_loss * rows,
                                               correct, rows], dtype=torch.float64))
        stats = EpochStats(self.epoch, float(totals[0] / totals[1]),
                           float(totals[2] / totals[4]), float(totals[3] / totals[4]))
        if not math.isfinite(stats.valid_loss):
            raise DivergenceError(self.epoch, "in validation", stats.valid_loss)
        self.history.append(stats)
        if self.on_epoch_end is not None:
            self.on_epoch_end(self.history)
        self._start_epoch()

    def _check_finite(self) -> None:
        """Raise :class:`DivergenceError` on every rank if any rank has seen a bad loss."""
        mine = float(self.first_bad is not None)
        if self.ranks.world > 1:
            mine = float(self.ranks.sum_(torch.tensor([mine], dtype=torch.float64))[0])
        if mine == 0:
            return
        if self.first_bad is None:
            raise DivergenceError(self.epoch, "on another rank", math.nan)
        step, value = self.first_bad
        raise DivergenceError(self.epoch, f"at step {step}", value)
