"""The live view, logged with DVCLive into ``live/<model>`` (the stage's cached outputs) for
``dvc exp show``, ``dvc plots show``, Studio and VS Code: each epoch's ``CURVES`` (``step`` is the
epoch) and a summary of what only the training knows: status, epoch, training loss."""

from mnist_pipeline.core.errors import PipelineError

DIGITS = 6  # readable files, diffs that show real changes
CURVES = ("train_loss", "valid_loss", "valid_accuracy")


class LiveView:
    """A training's log in ``folder``; a resumed run logs its ``history`` again (DVC deletes a
    stage's outputs before it runs). Its status: ``training``, then ``done`` once the model is
    written, else ``stopped``, ``diverged`` or ``failed``."""

    def __init__(self, folder: str, history=()) -> None:
        from dvclive import Live  # with DVC's modules: only where a live view is asked for
        from scmrepo.exceptions import SCMError

        try:  # dvc.yaml declares the files; the stage runs under `dvc repro` or `dvc exp run`
            self.epoch, self.live = 0, Live(folder, dvcyaml=None, save_dvc_exp=False)
        except SCMError as err:  # DVCLive reads the git HEAD, which a new repository lacks
            raise PipelineError(f"{folder}: DVCLive cannot start in a git repository without a "
                                f"commit ({err}): commit, then run again") from None
        try:  # a stop while the kept epochs are logged again must not leave "training"
            self.status("training")
            for stats in history:
                self.log_epoch(stats)
        except BaseException as err:
            self.end("stopped" if isinstance(err, KeyboardInterrupt) else "failed")
            raise

    def log_epoch(self, stats) -> None:
        self.epoch = self.live.step = stats.epoch
        for name in CURVES:
            self.live.log_metric(name, round(getattr(stats, name), DIGITS))
        for name in CURVES[1:]:  # the validation numbers: curves only, not in the summary
            del self.live.summary[name]
        self.live.next_step()  # DVCLive's step is now one past the epoch: status() resets it

    def status(self, status: str) -> None:
        self.live.step = self.epoch or None  # the last epoch (if any), also right after next_step
        self.live.log_metric("status", status, plot=False)
        self.live.make_summary()

    def end(self, status: str) -> None:  # the last word; DVCLive tells Studio and VS Code too
        self.status(status)
        self.live.end()
