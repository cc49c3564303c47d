"""The train stage, top to bottom, as nanoGPT's ``train.py`` reads: set up -> data -> model ->
resume -> the tutorial's ``fit`` -> the model file (the weights and their card: how they were
made, the per-epoch history). Under torchrun every rank runs it; rank 0 alone resumes, saves
checkpoints, logs the live view and writes the model. Scoring is the evaluate stage's."""

import contextlib
import logging
import signal
from dataclasses import asdict

import torch
from torch.utils.data import TensorDataset

from mnist_pipeline.core.cli import Stopped, parent_gone
from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.core.model_files import save_model
from mnist_pipeline.core.params import Params
from mnist_pipeline.core.tensor_files import load_split
from mnist_pipeline.train.batches import get_batches
from mnist_pipeline.train.checkpoints import Checkpoint, code_digest, data_digest, resume, run_key
from mnist_pipeline.train.devices import describe, fastest_layout, resolve_device
from mnist_pipeline.train.live import LiveView
from mnist_pipeline.train.monitor import DivergenceError, EpochStats, Monitor, batch_rows
from mnist_pipeline.train.progress import Progress
from mnist_pipeline.train.ranks import connect, parallel, ranks_from_environment
from mnist_pipeline.tutorial.data import WrappedDataLoader
from mnist_pipeline.tutorial.fit import fit
from mnist_pipeline.variants import VARIANTS, check_models, get_model

log = logging.getLogger("train")


def train_model(name: str, params: Params, tensors: str, weights: str,
                live_dir: str | None = None) -> None:
    """Train ``name`` on ``tensors``; rank 0 writes ``weights``, the live view in ``live_dir``."""
    check_models(params.models)
    setup, hyper, variant = params.train, params.model(name), VARIANTS[name]

    # Set up: this process among torchrun's ranks (or alone), its device, what makes the model.
    ranks = ranks_from_environment()
    device = resolve_device(setup.device, ranks.local_rank if ranks.world > 1 else None)
    run, data = run_settings(name, params), data_digest(tensors)  # hashed on another core
    inputs = {"run": run, "code": code_digest(), "device": device.type}
    connect(ranks, device, inputs, data, setup.ranks)

    # Data: the tensors onto the device once; the tutorial's get_data, each batch at once.
    torch.manual_seed(setup.seed)  # the initial weights; the shuffling has its own generator
    shuffle = torch.Generator().manual_seed(setup.seed)
    train_ds, valid_ds = (TensorDataset(*load_split(tensors, split, str(device)))
                          for split in ("train", "valid"))
    train_dl, valid_dl = get_batches(train_ds, valid_ds, setup.bs, shuffle, ranks.rank,
                                     ranks.world)
    if variant.reshape_batches is not None:  # "Wrapping DataLoader"
        train_dl = WrappedDataLoader(train_dl, variant.reshape_batches)
        valid_dl = WrappedDataLoader(valid_dl, variant.reshape_batches)

    # Model and optimizer, as the model's tutorial section makes them.
    model, opt = get_model(name, hyper.lr, hyper.momentum, device)
    fastest_layout(model, device)  # a CNN epoch on the CPU 15 % shorter (bench_startup.py)

    # Resume from rank 0's checkpoint of this very run (the same inputs), if there is one.
    key = run_key({**inputs, "data": data.result(), "torch": torch.__version__,
                   "threads": torch.get_num_threads()})  # what the same bytes need too
    checkpoint = Checkpoint(name, key) if ranks.is_main else None
    history = [EpochStats(**row) for row in resume(checkpoint, model, opt, shuffle, ranks,
                                                   setup.epochs)]
    progress = Progress(setup.epochs, len(train_dl), len(history), show=ranks.is_main)

    def epoch_done(history: list[EpochStats]) -> None:  # rank 0, after every epoch
        progress.log_epoch(history[-1])
        checkpoint.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                         "generator": shuffle.get_state(), "history": list(map(asdict, history))})
        if live is not None:
            live.log_epoch(history[-1])

    # Train: the tutorial's fit, watched. Then rank 0 writes the model, the checkpoint goes last.
    monitor = Monitor(model, valid_dl, ranks, history=history,
                      rows_of=(lambda step: batch_rows(step, setup.bs, len(train_ds)))
                      if ranks.world > 1 else None,
                      on_epoch_end=epoch_done if ranks.is_main else None)
    live = LiveView(live_dir, history) if live_dir and ranks.is_main else None  # says "training"
    with ending(live, checkpoint, progress, f"models.{name}.lr (now {hyper.lr})"):
        fit(setup.epochs - len(history), parallel(model, ranks), variant.loss_func, opt,
            train_dl, valid_dl, callbacks=Callbacks((progress, monitor)))
        if ranks.is_main:
            save(weights, model, {**run, "device": describe(device),
                                  "train_samples": len(train_ds)}, history)
            if live is not None:
                live.end("done")
            checkpoint.remove()


def run_settings(name: str, params: Params) -> dict[str, object]:
    setup, hyper = params.train, params.model(name)
    return {"model": name, "seed": setup.seed, "bs": setup.bs, "epochs": setup.epochs,
            "lr": hyper.lr, "momentum": hyper.momentum, "device": setup.device,
            "nproc": setup.nproc, "nnodes": setup.nnodes, "deterministic": setup.deterministic}


def save(weights: str, model, card: dict[str, object], history: list[EpochStats]) -> None:
    if parent_gone():  # dvc was killed meanwhile: its dvc.lock would not record the model
        log.warning("the process that started this stage has exited")
        raise Stopped(signal.SIGTERM)
    card = {**card, "torch": torch.__version__, "history": list(map(asdict, history))}
    save_model(weights, model.state_dict(), card)


class Callbacks(tuple):
    """Several of ``fit``'s callbacks objects, called in order: ``Callbacks((a, b))``."""

    def after_batch(self, loss: float, num: int) -> None:
        for part in self:
            part.after_batch(loss, num)

    def after_epoch(self, epoch: int, val_loss: float) -> None:
        for part in self:
            part.after_epoch(epoch, val_loss)


@contextlib.contextmanager
def ending(live: LiveView | None, checkpoint: Checkpoint | None, progress: Progress, lr: str):
    """A training that does not finish: one line on what is kept; the live view's status."""
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
        raise PipelineError(f"{err}; no model written. Lower {lr} and run again") from None
    except Exception:
        if live is not None:
            live.end("failed")
        raise
