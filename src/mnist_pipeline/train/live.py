"""The train stage's live view: two of its own outputs, rewritten after every epoch, that
``dvc exp show`` (also of a queued experiment, in its temporary workspace) and ``dvc plots show``
read while it runs: ``live/<model>.json`` (the status and the last epoch's losses and accuracy)
and ``live/<model>.csv`` (one row per epoch). ``status`` is ``training``, then ``done`` once the
model is written; a run that stops says ``stopped``, ``diverged`` or ``failed``, never a finished
look.

Both hold only what the run computes, no timings: the same params give the same bytes, so DVC
sees a rerun's outputs unchanged.
"""

from dataclasses import asdict, dataclass
from pathlib import Path

from mnist_pipeline.core.atomic import write_json
from mnist_pipeline.core.model_files import write_history
from mnist_pipeline.train.monitor import EpochStats
from mnist_pipeline.train.scoring import DIGITS


@dataclass(frozen=True)
class LiveView:
    metrics: Path  # JSON: the status and the last epoch
    history_csv: Path  # one row per epoch

    def write(self, history: list[EpochStats], status: str = "training") -> None:
        """The epochs done so far, and what the run is doing now."""
        metrics: dict[str, object] = {"status": status, "epoch": len(history)}
        if history:
            last = history[-1]
            metrics["train_loss"] = round(last.train_loss, DIGITS)
            metrics["valid"] = {"loss": round(last.valid_loss, DIGITS),
                                "accuracy": round(last.valid_accuracy, DIGITS)}
        write_history(self.history_csv, [asdict(epoch) for epoch in history])
        write_json(self.metrics, metrics)
