"""Training seen while it runs, in DVC's own tools: after every epoch the train stage rewrites
its model's ``metrics/<model>.json`` and ``plots/<model>/train.csv`` (the evaluate stage's
outputs, which ``dvc exp show``, ``dvc plots`` and the VS Code extension read, also in a
queued experiment's workspace) with the epochs so far, marked ``"status": "training"``, and
tells the extension a step is done as DVCLive does. Evaluate rewrites both when training ends
(``"status": "done"``, the test scores); a run that stops leaves them marked ``"stopped"``.
"""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from mnist_pipeline.core.atomic import write_csv, write_json
from mnist_pipeline.core.names import HISTORY_COLUMNS
from mnist_pipeline.train.scoring import DIGITS

# What DVCLive's next_step() touches; the VS Code extension watches it to refresh its plots.
STEP_SIGNAL = Path(".dvc", "tmp", "exps", "run", "DVCLIVE_STEP_COMPLETED")


@dataclass
class LiveFiles:
    metrics: Path
    history: Path
    epochs: int
    device: str
    nproc: int
    done: list = field(default_factory=list)  # the epochs last written

    def update(self, history: list, status: str = "training", seconds: float | None = None
               ) -> None:
        """The epochs so far (``EpochRecord`` rows); ``status`` says they are not the end."""
        train = {"status": status, "epoch": len(history), "epochs": self.epochs,
                 "device": self.device, "nproc": self.nproc}
        if seconds is not None:
            train["epoch_seconds"] = round(seconds, 3)
        metrics: dict[str, object] = {"train": train}
        if history:
            last = history[-1]
            train["train_loss"] = round(last.train_loss, DIGITS)
            metrics["valid"] = {"loss": round(last.valid_loss, DIGITS),
                                "accuracy": round(last.valid_accuracy, DIGITS)}
        write_csv(self.history, HISTORY_COLUMNS,
                  [[getattr(row, column) for column in HISTORY_COLUMNS] for row in history])
        write_json(self.metrics, metrics)
        self.done = list(history)
        signal_step(len(history))


def signal_step(step: int) -> None:
    """DVCLive's signal to the VS Code extension, in the workspace DVC runs from."""
    root = os.environ.get("DVC_ROOT")
    if root is None:
        return
    signal = Path(root) / STEP_SIGNAL
    signal.parent.mkdir(parents=True, exist_ok=True)
    signal.write_text(json.dumps({"pid": os.getpid(), "step": step}))
