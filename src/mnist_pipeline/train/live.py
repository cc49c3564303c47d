"""The live view, logged with DVCLive into ``live/<model>`` (cached outputs of the stage), read
by ``dvc exp show``, ``dvc plots show``, DVC Studio and VS Code while a training runs: per
epoch, the curves of ``CURVES`` (``step`` is the epoch) and a summary of what only the training
knows: ``status`` (``training``, ``done`` once the model is written, or ``stopped``,
``diverged``, ``failed``), the epoch, its training loss. Scores are the evaluate stage's."""

from dvclive import Live

DIGITS = 6  # readable files, diffs that show real changes
CURVES = ("train_loss", "valid_loss", "valid_accuracy")


class LiveView:
    """DVCLive's log of one training in ``folder``; ``history`` holds the epochs a resumed run
    did before (DVC deletes a stage's outputs before it runs: they are logged again)."""

    def __init__(self, folder: str, history=()) -> None:
        # dvcyaml=None: dvc.yaml declares these files; no experiment of its own: the stage
        # runs under `dvc repro` or `dvc exp run`.
        self.live = Live(folder, dvcyaml=None, save_dvc_exp=False)
        self.status("training")
        for stats in history:
            self.log_epoch(stats)

    def log_epoch(self, stats) -> None:
        self.live.step = stats.epoch
        for name in CURVES:
            self.live.log_metric(name, round(getattr(stats, name), DIGITS))
        for name in CURVES[1:]:  # the validation numbers: curves only, not in the summary
            del self.live.summary[name]
        self.live.next_step()
        self.live.step = stats.epoch  # the summary's step stays the epoch just logged

    def status(self, status: str) -> None:
        self.live.log_metric("status", status, plot=False)
        self.live.make_summary()

    def end(self, status: str) -> None:  # the last word; DVCLive tells Studio and VS Code too
        self.status(status)
        self.live.end()
