"""The train stage's live view, logged with DVCLive into the stage's own folder ``live/<model>``
(a cached output: dvc.yaml declares its ``metrics.json`` and ``plots/metrics/*.tsv``), so that
``dvc exp show``, ``dvc plots show``, DVC Studio and the VS Code extension follow a training
while it runs, queued experiments included.

After every epoch DVCLive appends the epoch's ``train_loss``, ``valid_loss`` and
``valid_accuracy`` to its curves (DVCLive's ``step`` is the epoch) and rewrites its summary. The
summary holds what only the training knows: its ``status`` (``training``, then ``done`` once
the model is written; ``stopped``, ``diverged`` or ``failed`` otherwise, never a finished look),
the epoch and its training loss. The final model's validation scores are the evaluate stage's
metrics, so each number shows once. No timings: the same params give the same bytes.
"""

from dvclive import Live

DIGITS = 6  # as the evaluate stage's scores: readable files, diffs that show real changes
CURVES = ("train_loss", "valid_loss", "valid_accuracy")
SCORED_BY_EVALUATE = ("valid_loss", "valid_accuracy")


class LiveView:
    """DVCLive's log of one training in ``folder``; ``history`` holds the epochs a resumed run
    did before (DVC deletes a stage's outputs before it runs, so they are logged again)."""

    def __init__(self, folder: str, history=()) -> None:
        # dvcyaml=None: dvc.yaml declares these files already, DVCLive must not rewrite it;
        # no experiment of its own: the stage runs under `dvc repro` or `dvc exp run`.
        self.live = Live(folder, dvcyaml=None, save_dvc_exp=False)
        self.status("training")
        for stats in history:
            self.log_epoch(stats)

    def log_epoch(self, stats) -> None:
        live = self.live
        live.step = stats.epoch
        for name in CURVES:
            live.log_metric(name, round(getattr(stats, name), DIGITS))
        for name in SCORED_BY_EVALUATE:  # curves only, not in the summary
            del live.summary[name]
        live.next_step()
        live.step = stats.epoch  # the summary's step stays the epoch just logged

    def status(self, status: str) -> None:
        self.live.log_metric("status", status, plot=False)
        self.live.make_summary()

    def end(self, status: str) -> None:
        """The run's last word; DVCLive tells Studio and VS Code the run has ended."""
        self.status(status)
        self.live.end()
