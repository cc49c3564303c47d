"""Where a training is, as fit's ``callbacks``: a line every ``PROGRESS_EVERY_S`` and per epoch
(a terminal, CI, ``dvc queue logs``), and where in the loop a stop found it."""

import logging
import time

log = logging.getLogger("train")

PROGRESS_EVERY_S = 10.0


class Progress:
    """``epochs`` epochs of ``steps`` steps, ``done`` before (resumed); ``show`` on rank 0."""

    def __init__(self, epochs: int, steps: int, done: int = 0, show: bool = True) -> None:
        self.epochs, self.steps, self.show = epochs, steps, show
        self.epoch, self.step, self.where = done + 1, 0, "before its first step"

    def position(self) -> str:  # e.g. "in epoch 2 after step 300"
        done = self.epoch > self.epochs or self.where == "at its end" and self.epoch == self.epochs
        return "after its last epoch" if done else f"in epoch {self.epoch} {self.where}"

    def after_batch(self, loss: float, num: int) -> None:
        if self.where == "at its end":  # the last epoch is recorded: the next one is under way
            self.epoch, self.step = self.epoch + 1, 0
        if self.step == 0:
            self.started = time.perf_counter()
            self.next_line = self.started + PROGRESS_EVERY_S
        self.step += 1
        self.where = f"after step {self.step}" if self.step < self.steps else "in validation"
        if self.show and time.perf_counter() >= self.next_line:
            self.next_line += PROGRESS_EVERY_S
            log.info("epoch %d/%d: step %d/%d (%.0f%%), %.0f s", self.epoch, self.epochs,
                     self.step, self.steps, 100 * self.step / self.steps,
                     time.perf_counter() - self.started)

    def after_epoch(self, epoch: int, val_loss: float) -> None:
        self.where = "at its end"

    def log_epoch(self, stats) -> None:  # the epoch just finished, an EpochStats
        log.info("epoch %d/%d  train_loss %.4f  valid_loss %.4f  valid_accuracy %.4f  (%.1f s)",
                 stats.epoch, self.epochs, stats.train_loss, stats.valid_loss,
                 stats.valid_accuracy, time.perf_counter() - self.started)
