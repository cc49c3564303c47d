"""What the train stage adds around the tutorial's ``fit``, as its callbacks: resume, each
epoch's record (logged, then ``on_epoch_end``: the checkpoint), a NaN or infinite loss stopping
the run on every rank at once, where an interruption found the loop, sums across ranks, and a
progress bar on a terminal (a line every ``PROGRESS_EVERY_S`` elsewhere).
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
from mnist_pipeline.train.ranks import SINGLE, Ranks
from mnist_pipeline.tutorial.fit import Callbacks, fit

log = logging.getLogger(__name__)

CHECK_EVERY = 50  # steps between the ranks' agreement that every loss is finite
PROGRESS_EVERY_S = 10.0  # a progress line this often where stderr is no terminal (CI, queues)


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    train_loss: float
    valid_loss: float
    valid_accuracy: float


class DivergenceError(PipelineError, ArithmeticError):
    """The loss became NaN or infinite in ``epoch``, ``where`` in it (e.g. "at step 12")."""

    def __init__(self, epoch: int, where: str, value: float) -> None:
        super().__init__(f"the loss became {value} in epoch {epoch} {where}")


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on a signal in ``epoch`` (``where`` in it, e.g. "after step 300")."""

    def __init__(self, epoch: int, where: str) -> None:
        super().__init__(f"interrupted in epoch {epoch} {where}")
        self.epoch, self.where = epoch, where


class CountingCorrect:
    """A loss function that, called without gradients (``fit``'s validation), also counts the
    batch's correct predictions and keeps its outputs: the validation accuracy, and the last
    epoch's scores, come from fit's own forward pass."""

    def __init__(self, loss_func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
        self.loss_func = loss_func
        self.reset()

    def reset(self) -> None:
        self.correct, self.rows, self.outputs = 0, 0, []

    def __call__(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled():
            self.correct += int((input.argmax(dim=1) == target).sum())
            self.rows += len(target)
            self.outputs.append(input)
        return self.loss_func(input, target)


class TrainingRecord(Callbacks):
    """``fit``'s callbacks for one training; ``train_rows`` and ``bs`` (the global batch) are
    needed with several ranks, to weigh each step's loss by its whole batch's rows."""

    def __init__(self, history: Sequence[EpochRecord] = (), ranks: Ranks = SINGLE,
                 on_epoch_end: Callable[[list[EpochRecord]], None] | None = None,
                 train_rows: int = 0, bs: int = 0) -> None:
        if ranks.world > 1 and not (train_rows and bs):
            raise ValueError("several ranks need train_rows and bs: the global batch's rows")
        self.history, self.ranks, self.on_epoch_end = list(history), ranks, on_epoch_end
        self.train_rows, self.bs = train_rows, bs
        self.counted: CountingCorrect | None = None  # fit's loss function, once it runs
        self.epoch, self.step, self.steps, self.where = len(self.history) + 1, 0, 0, ""

    def fit(self, epochs, model, loss_func, opt, train_dl, valid_dl) -> list[EpochRecord]:
        """The tutorial's ``fit`` with this record as its callbacks; returns every epoch's."""
        self.counted, self.steps = CountingCorrect(loss_func), len(train_dl)
        try:
            fit(epochs, model, self.counted, opt, train_dl, valid_dl, callbacks=self)
        except KeyboardInterrupt as stop:
            raise TrainingInterrupted(self.epoch, self.where) from stop
        return self.history

    def last_validation(self) -> torch.Tensor | None:
        """The model's outputs for the whole validation split in the last epoch run here, or
        ``None`` (no epoch ran, or each rank saw a part): its scores need no second pass."""
        if self.ranks.world > 1 or self.counted is None or not self.counted.outputs:
            return None
        return torch.cat(self.counted.outputs)

    def epochs(self, epochs):
        self.total = epochs
        for epoch in range(len(self.history), epochs):
            self.epoch, self.step, self.where = epoch + 1, 0, "before its first step"
            self.loss_sum, self.rows_sum, self.first_bad = 0.0, 0, None
            self.counted.reset()
            # A bar on a terminal (rank 0 only), nothing in logs and CI.
            self.bar = (tqdm(total=self.steps, desc=f"epoch {self.epoch}/{epochs}", unit="batch",
                             leave=False) if self.ranks.is_main and sys.stderr.isatty() else None)
            self.started = time.perf_counter()
            self.next_progress = (self.started + PROGRESS_EVERY_S
                                  if self.bar is None and self.ranks.is_main else math.inf)
            yield epoch

    def after_batch(self, loss, num):
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
        if self.bar is not None:
            self.bar.update()
        elif time.perf_counter() >= self.next_progress:
            self.next_progress += PROGRESS_EVERY_S
            log.info("epoch %d/%d: step %d/%d (%.0f%%), %.0f s", self.epoch, self.total,
                     self.step, self.steps, 100 * self.step / self.steps,
                     time.perf_counter() - self.started)

    def after_epoch(self, epoch, val_loss):
        if self.bar is not None:
            self.bar.close()
        self._check_finite()
        rows = self.counted.rows
        totals = self.ranks.sum_(torch.tensor([self.loss_sum, self.rows_sum, val_loss * rows,
                                               self.counted.correct, rows], dtype=torch.float64))
        train_loss, valid_loss, accuracy = (float(totals[0] / totals[1]),
                                            float(totals[2] / totals[4]),
                                            float(totals[3] / totals[4]))
        if not math.isfinite(valid_loss):
            raise DivergenceError(self.epoch, "in validation", valid_loss)
        self.epoch_seconds = time.perf_counter() - self.started
        if self.ranks.is_main:
            log.info("epoch %d/%d  train_loss %.4f  valid_loss %.4f  valid_accuracy %.4f  "
                     "(%.1f s)", self.epoch, self.total, train_loss, valid_loss, accuracy,
                     self.epoch_seconds)
        self.history.append(EpochRecord(self.epoch, train_loss, valid_loss, accuracy))
        self.where = "at its end"
        if self.on_epoch_end is not None:
            self.on_epoch_end(self.history)

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
