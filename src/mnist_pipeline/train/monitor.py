"""What the train stage watches while the tutorial's ``fit`` runs, as fit's ``callbacks``: each
step's loss summed into the epoch's, a NaN or infinite loss stopping the run (on every rank at
once), where in the loop a stop found it, a progress bar on a terminal (a line every
``PROGRESS_EVERY_S`` elsewhere), and after each validation one more pass over the validation
batches, for the outputs that ``fit`` does not keep: the accuracy, and the final scores.
"""

import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from tqdm import tqdm

from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.train.ranks import Ranks
from mnist_pipeline.train.scoring import predict

log = logging.getLogger(__name__)

CHECK_EVERY = 50  # steps between the ranks' agreement that every loss is finite
PROGRESS_EVERY_S = 10.0  # a progress line this often where stderr is no terminal (CI, queues)


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


class Monitor:
    """``fit``'s callbacks for one training of ``epochs`` epochs of ``steps`` steps, on every
    rank. ``history`` holds the epochs a resumed run did before; ``on_epoch_end(history)`` runs
    after each epoch (rank 0's saves the checkpoint). With several ranks each step's loss is
    weighed by its whole batch's rows: ``bs`` of the ``train_rows``."""

    def __init__(self, model, valid_dl, ranks: Ranks, epochs: int, steps: int,
                 history: Sequence[EpochStats] = (),
                 on_epoch_end: Callable[[list[EpochStats]], None] | None = None, *,
                 bs: int = 0, train_rows: int = 0) -> None:
        if ranks.world > 1 and not (train_rows and bs):
            raise ValueError("several ranks need train_rows and bs: the global batch's rows")
        self.model, self.valid_dl, self.ranks = model, valid_dl, ranks
        self.epochs, self.steps, self.bs, self.train_rows = epochs, steps, bs, train_rows
        self.history, self.on_epoch_end = list(history), on_epoch_end
        self.valid_outputs: torch.Tensor | None = None  # the last epoch's (one rank only)
        self._start_epoch()

    def position(self) -> str:
        """Where the training is, e.g. "in epoch 2 after step 300"."""
        if self.epoch > self.epochs:
            return "after its last epoch"
        return f"in epoch {self.epoch} {self.where}"

    def _start_epoch(self) -> None:
        self.epoch, self.step, self.where = len(self.history) + 1, 0, "before its first step"
        self.loss_sum, self.rows_sum, self.first_bad, self.bar = 0.0, 0, None, None
        self.started = time.perf_counter()
        self.next_progress = self.started + PROGRESS_EVERY_S if self.ranks.is_main else math.inf

    def after_batch(self, loss: float, num: int) -> None:
        self.step += 1
        self.where = f"after step {self.step}" if self.step < self.steps else "in validation"
        if self.ranks.world > 1:
            # Each step weighs as its whole batch, whose mean loss the ranks' equal parts (or
            # copies, for an uneven last batch) average to.
            num = min(self.bs, self.train_rows - (self.step - 1) * self.bs)
        self.loss_sum += loss * num
        self.rows_sum += num
        if self.first_bad is None and not math.isfinite(loss):
            self.first_bad = (self.step, loss)
        if self.step % CHECK_EVERY == 0:
            self._check_finite()
        self._show_progress()

    def after_epoch(self, epoch: int, val_loss: float) -> None:
        if self.bar is not None:
            self.bar.close()
        self._check_finite()
        outputs, targets = predict(self.model, self.valid_dl)  # the pass fit keeps no outputs of
        rows, correct = len(targets), int((outputs.argmax(dim=1) == targets).sum())
        totals = self.ranks.sum_(torch.tensor([self.loss_sum, self.rows_sum, val_loss * rows,
                                               correct, rows], dtype=torch.float64))
        train_loss, valid_loss, accuracy = (float(totals[0] / totals[1]),
                                            float(totals[2] / totals[4]),
                                            float(totals[3] / totals[4]))
        if not math.isfinite(valid_loss):
            raise DivergenceError(self.epoch, "in validation", valid_loss)
        if self.ranks.world == 1:  # with several, each rank saw only its part of the split
            self.valid_outputs = outputs
        if self.ranks.is_main:
            log.info("epoch %d/%d  train_loss %.4f  valid_loss %.4f  valid_accuracy %.4f  "
                     "(%.1f s)", self.epoch, self.epochs, train_loss, valid_loss, accuracy,
                     time.perf_counter() - self.started)
        self.history.append(EpochStats(self.epoch, train_loss, valid_loss, accuracy))
        self.where = "at its end"
        if self.on_epoch_end is not None:
            self.on_epoch_end(self.history)
        self._start_epoch()

    def _show_progress(self) -> None:
        """A bar on a terminal (rank 0 only); elsewhere (logs, CI) a line now and then."""
        if self.bar is None and self.step == 1 and self.ranks.is_main and sys.stderr.isatty():
            self.bar = tqdm(total=self.steps, desc=f"epoch {self.epoch}/{self.epochs}",
                            unit="batch", leave=False, initial=1)
        elif self.bar is not None:
            self.bar.update()
        elif time.perf_counter() >= self.next_progress:
            self.next_progress += PROGRESS_EVERY_S
            log.info("epoch %d/%d: step %d/%d (%.0f%%), %.0f s", self.epoch, self.epochs,
                     self.step, self.steps, 100 * self.step / self.steps,
                     time.perf_counter() - self.started)

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
