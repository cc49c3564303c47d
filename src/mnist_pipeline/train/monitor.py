"""Each epoch's numbers, as fit's ``callbacks`` on every rank (the accuracy needs one more pass:
``fit`` keeps no outputs); a NaN or infinite loss stops the run on every rank at once."""

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.train.batches import predict
from mnist_pipeline.train.ranks import Ranks

CHECK_EVERY = 50  # steps between the ranks' agreement that every loss is finite


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    train_loss: float
    valid_loss: float
    valid_accuracy: float


class DivergenceError(PipelineError, ArithmeticError):
    def __init__(self, epoch: int, where: str, value: float) -> None:
        super().__init__(f"the loss became {value} in epoch {epoch} {where}")


def batch_rows(step: int, bs: int, rows: int) -> int:  # at step (from 1): bs, or what is left
    return min(bs, rows - (step - 1) * bs)


@dataclass
class Monitor:
    """Appends each epoch's stats to ``history`` (a resumed run's first), then calls
    ``on_epoch_end(history)``. With several ranks each step weighs as its whole batch,
    ``rows_of(step)`` rows: the ranks' equal parts (or copies) average to its mean."""

    model: object
    valid_dl: object
    ranks: Ranks = Ranks()
    rows_of: Callable[[int], int] | None = None
    history: list[EpochStats] = field(default_factory=list)
    on_epoch_end: Callable[[list[EpochStats]], None] | None = None

    def __post_init__(self) -> None:  # and at each epoch's end
        self.step, self.loss_sum, self.rows_sum, self.first_bad = 0, 0.0, 0, None

    def after_batch(self, loss: float, num: int) -> None:
        self.step += 1
        num = self.rows_of(self.step) if self.rows_of else num
        self.loss_sum, self.rows_sum = self.loss_sum + loss * num, self.rows_sum + num
        if self.first_bad is None and not math.isfinite(loss):
            self.first_bad = (self.step, loss)
        if self.step % CHECK_EVERY == 0:
            self._check_finite()

    def after_epoch(self, epoch: int, val_loss: float) -> None:
        self._check_finite()
        outputs, targets = predict(self.model, self.valid_dl)
        rows, correct = len(targets), int((outputs.argmax(dim=1) == targets).sum())
        totals = self.ranks.sum_(torch.tensor([self.loss_sum, self.rows_sum, val_loss * rows,
                                               correct, rows], dtype=torch.float64))
        stats = EpochStats(len(self.history) + 1, float(totals[0] / totals[1]),
                           float(totals[2] / totals[4]), float(totals[3] / totals[4]))
        if not math.isfinite(stats.valid_loss):
            raise DivergenceError(stats.epoch, "in validation", stats.valid_loss)
        self.history.append(stats)
        if self.on_epoch_end is not None:
            self.on_epoch_end(self.history)
        self.__post_init__()

    def _check_finite(self) -> None:
        """Raise :class:`DivergenceError` on every rank if any rank has seen a bad loss."""
        bad = torch.tensor([float(self.first_bad is not None)], dtype=torch.float64)
        if self.ranks.sum_(bad)[0] == 0:
            return
        where, value = ((f"at step {self.first_bad[0]}", self.first_bad[1]) if self.first_bad
                        else ("on another rank", math.nan))
        raise DivergenceError(len(self.history) + 1, where, value)
