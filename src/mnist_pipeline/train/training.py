"""The train stage, top to bottom, as nanoGPT's ``train.py`` reads: set up -> data -> model ->
resume -> the tutorial's ``fit`` -> the model file (its weights and its card: how it was made,
and its per-epoch history). Scoring the model is the evaluate stage's.

Under torchrun (``train.nproc``/``train.nnodes`` > 1) every rank runs this; rank 0 alone
resumes and saves checkpoints, logs the live view and writes the model.
"""

import contextlib
import logging
import signal
from dataclasses import asdict

import torch

from mnist_pipeline.core.cli import Stopped, parent_gone
from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.core.model_files import save_model
from mnist_pipeline.core.params import Params
from mnist_pipeline.core.tensor_files import load_split
from mnist_pipeline.train.batches import TensorBatchDataset, get_batches
from mnist_pipeline.train.checkpoints import Checkpoint, code_digest, data_digest, resume, run_key
from mnist_pipeline.train.devices import describe, fastest_layout, resolve_device
from mnist_pipeline.train.live import LiveView
from mnist_pipeline.train.monitor import DivergenceError, EpochStats, Monitor, batch_rows
from mnist_pipeline.train.progress import Progress
from mnist_pipeline.train.ranks import connect, parallel, ranks_from_environment
from mnist_pipeline.train.variants import VARIANTS, check_models, get_model
from mnist_pipeline.tutorial.data import WrappedDataLoader
from mnist_pipeline.tutorial.fit import fit

log = logging.getLogger("train")


def train_model(name: str, params: Params, tensors: str, weights: str,
                live_dir: str | None = None) -> None:
    """Train model ``name`` of ``params`` on the tensor files in ``tensors``; rank 0 writes the
    model file ``weights`` and, with ``live_dir``, logs the live view there."""
    check_models(params.models)
    setup, hyper, variant = params.train, params.model(name), VARIANTS[name]

    # Set up: this process's place among torchrun's ranks (alone without it), its device, and
    # what makes this model, the same on every rank (on its card, in its checkpoint's key).
    ranks = ranks_from_environment()
    device = resolve_device(setup.device, ranks.local_rank if ranks.world > 1 else None)
    run = run_settings(name, params)
    data = data_digest(tensors)  # hashed on another core meanwhile
    inputs = {"run": run, "code": code_digest(), "device": device.type}
    connect(ranks, device, inputs, data, setup.ranks)

    # Data: the tensors onto the device once; the tutorial's get_data, each batch at once.
    torch.manual_seed(setup.seed)  # the initial weights; the shuffling has its own generator
    shuffle = torch.Generator().manual_seed(setup.seed)
    train_ds, valid_ds = (TensorBatchDataset(*load_split(tensors, split, str(device)))
                          for split in ("train", "valid"))
    train_dl, valid_dl = get_batches(train_ds, valid_ds, setup.bs, shuffle, ranks.rank,
                                     ranks.world)
    if variant.reshape_batches is not None:  # "Wrapping DataLoader"
        train_dl = WrappedDataLoader(train_dl, variant.reshape_batches)
        valid_dl = WrappedDataLoader(valid_dl, variant.reshape_batches)

    # Model and optimizer, as the model's tutorial section makes them.
    model, opt = get_model(name, hyper.lr, hyper.momentum, device)
    fastest_layout(model, device)

    # Resume from rank 0's checkpoint of this very run (the same inputs), if there is one.
    key = run_key({**inputs, "data": data.result(), "torch": torch.__version__,
                   "threads": torch.get_num_threads()})  # also what the same bytes need
    checkpoint = Checkpoint(name, key) if ranks.is_main else None
    history = [EpochStats(**row) for row in resume(checkpoint, model, opt, shuffle, ranks,
                                                             setup.epochs)]
    progress = Progress(setup.epochs, len(train_dl), len(history), show=ranks.is_main)
    live = LiveView(live_dir, history) if live_dir and ranks.is_main else None

    def epoch_done(history: list[EpochStats]) -> None:  # rank 0, after every epoch
        progress.log_epoch(history[-1])
        checkpoint.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                         "generator": shuffle.get_state(),
                         "history": [asdict(epoch) for epoch in history]})
        if live is not None:
            live.log_epoch(history[-1])

    # Train: the tutorial's fit, the progress and the monitor as its callbacks. Then rank 0
    # writes the model file with its card; the checkpoint goes last.
    monitor = Monitor(model, valid_dl, ranks, history=history,
                      rows_of=rows_per_step(setup.bs, len(train_ds), ranks.world),
                      on_epoch_end=epoch_done if ranks.is_main else None)
    with outcome(live, checkpoint, progress, f"models.{name}.lr", hyper.lr):
        fit(setup.epochs - len(history), parallel(model, ranks), variant.loss_func, opt,
            train_dl, valid_dl, callbacks=Callbacks(progress, monitor))
        if ranks.is_main:
            card = {**run, "device": describe(device), "train_samples": len(train_ds),
                    "torch": torch.__version__, "history": [asdict(e) for e in history]}
            write_model(weights, model, card)
            if live is not None:
                live.end("done")
            checkpoint.remove()


def run_settings(name: str, params: Params) -> dict[str, object]:
    """What makes model ``name``, as params.yaml sets it."""
    setup, hyper = params.train, params.model(name)
    return {"model": name, "seed": setup.seed, "bs": setup.bs, "epochs": setup.epochs,
            "lr": hyper.lr, "momentum": hyper.momentum, "device": setup.device,
            "nproc": setup.nproc, "nnodes": setup.nnodes}


def rows_per_step(bs: int, rows: int, world: int):
    """With several ranks, each step's loss weighs as its whole batch: ``batch_rows``."""
    return (lambda step: batch_rows(step, bs, rows)) if world > 1 else None


def write_model(weights: str, model, card: dict[str, object]) -> None:
    if parent_gone():  # dvc was killed meanwhile: its dvc.lock would not record the model
        log.warning("the process that started this stage has exited")
        raise Stopped(signal.SIGTERM)
    save_model(weights, model.state_dict(), card)


class Callbacks:
    """Several of ``fit``'s callbacks objects, called in order."""

    def __init__(self, *parts) -> None:
        self.parts = parts

    def after_batch(self, loss: float, num: int) -> None:
        for part in self.parts:
            part.after_batch(loss, num)

    def after_epoch(self, epoch: int, val_loss: float) -> None:
        for part in self.parts:
            part.after_epoch(epoch, val_loss)


@contextlib.contextmanager
def outcome(live: LiveView | None, checkpoint: Checkpoint | None, progress: Progress,
            lr_key: str, lr: float):
    """How a training that did not finish ends: one line saying what is kept, and the live
    view's status (rank 0 alone has a checkpoint and a live view)."""
    try:
        yield
    except KeyboardInterrupt:
        if checkpoint is not None:
            log.warning("interrupted %s; no model written; %s", progress.position(),
                        checkpoint.resume_hint())
        if live is not None:
            live.end("stopped")
        raise
    except DivergenceError as err:
        if checkpoint is not None:
            checkpoint.remove()
        if live is not None:
            live.end("diverged")
        raise PipelineError(f"{err}; no model written. Lower {lr_key} (now {lr}) and run "
                            "again") from None
    except Exception:
        if live is not None:
            live.end("failed")
        raise
