"""Where a training is, as fit's ``callbacks``: a progress bar on a terminal, a line every
``PROGRESS_EVERY_S`` elsewhere (CI, ``dvc queue logs``), and where in the loop a stop found it.
Shown by rank 0 alone.
"""

import logging
import sys
import time

from tqdm import tqdm

log = logging.getLogger("train")

PROGRESS_EVERY_S = 10.0


class Progress:
    """The progress of a training of ``epochs`` epochs of ``steps`` steps that has ``done``
    epochs already (a resumed run)."""

    def __init__(self, epochs: int, steps: int, done: int = 0, show: bool = True) -> None:
        self.epochs, self.steps, self.show, self.bar = epochs, steps, show, None
        self.epoch, self.step, self.where = done + 1, 0, "before its first step"
        self.started = self.next_line = 0.0

    def position(self) -> str:
        """Where the training is, e.g. "in epoch 2 after step 300"."""
        if self.epoch > self.epochs or self.where == "at its end" and self.epoch == self.epochs:
            return "after its last epoch"
        return f"in epoch {self.epoch} {self.where}"

    def elapsed(self) -> float:
        """Seconds since the epoch under way (or just ended) began."""
        return time.perf_counter() - self.started

    def after_batch(self, loss: float, num: int) -> None:
        if self.where == "at its end":  # the last epoch is recorded: the next one is under way
            self.epoch, self.step = self.epoch + 1, 0
        if self.step == 0:
            self.started = time.perf_counter()
            self.next_line = self.started + PROGRESS_EVERY_S
        self.step += 1
        self.where = f"after step {self.step}" if self.step < self.steps else "in validation"
        if not self.show:
            return
        if self.bar is None and self.step == 1 and sys.stderr.isatty():
            self.bar = tqdm(total=self.steps, desc=f"epoch {self.epoch}/{self.epochs}",
                            unit="batch", leave=False, initial=1)
        elif self.bar is not None:
            self.bar.update()
        elif time.perf_counter() >= self.next_line:
            self.next_line += PROGRESS_EVERY_S
            log.info("epoch %d/%d: step %d/%d (%.0f%%), %.0f s", self.epoch, self.epochs,
                     self.step, self.steps, 100 * self.step / self.steps, self.elapsed())

    def log_epoch(self, stats) -> None:
        """The line of an epoch just finished, with its numbers (an ``EpochStats``)."""
        log.info("epoch %d/%d  train_loss %.4f  valid_loss %.4f  valid_accuracy %.4f  (%.1f s)",
                 stats.epoch, self.epochs, stats.train_loss, stats.valid_loss,
                 stats.valid_accuracy, self.elapsed())

    def after_epoch(self, epoch: int, val_loss: float) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.where = "at its end"

