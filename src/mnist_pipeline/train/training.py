"""The train stage, top to bottom: params -> device and ranks -> tensors -> batches -> model and
optimizer -> resume -> the tutorial's ``fit`` -> scores -> the model file.

With ``train.nproc``/``train.nnodes`` > 1, torchrun runs this in every rank; rank 0 alone resumes
and saves checkpoints, shows the live view and writes the model. The ranks stay connected for
another training in the same processes; the stage leaves the group when it is done.
"""

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
from mnist_pipeline.train.devices import (
    describe,
    fastest_layout,
    keep_freed_memory,
    resolve_device,
)
from mnist_pipeline.train.live import LiveView
from mnist_pipeline.train.monitor import DivergenceError, EpochStats, Monitor
from mnist_pipeline.train.ranks import (
    connect,
    parallel,
    ranks_from_environment,
    same_inputs_everywhere,
)
from mnist_pipeline.train.scoring import score_model
from mnist_pipeline.train.variants import VARIANTS, check_models, get_model
from mnist_pipeline.tutorial.data import WrappedDataLoader
from mnist_pipeline.tutorial.fit import fit

log = logging.getLogger("train")


def train_model(name: str, params: Params, tensors: str, weights: str,
                live: LiveView | None = None) -> None:
    """Train model ``name`` of ``params`` on the tensor files in ``tensors``; rank 0 writes the
    model file ``weights`` and, after every epoch, the ``live`` view."""
    check_models(params.models)
    setup, hyper, variant = params.train, params.model(name), VARIANTS[name]
    # What makes this model: in its checkpoint's key, compared across nodes, on its card.
    run = {"model": name, "seed": setup.seed, "bs": setup.bs, "epochs": setup.epochs,
           "lr": hyper.lr, "momentum": hyper.momentum, "device": setup.device,
           "nproc": setup.nproc, "nnodes": setup.nnodes}
    code = code_digest()  # the code as it runs, not as it may be when a checkpoint is saved

    # Device and ranks: one process, or this one's place among torchrun's.
    ranks = ranks_from_environment()
    live = live if ranks.is_main else None
    data = data_digest(tensors) if ranks.local_rank == 0 else None  # hashed on another core
    device = connect(ranks, resolve_device(setup.device))
    if setup.nnodes > 1:
        same_inputs_everywhere(ranks, code, data, run)

    # Tensors, onto the device once. train.seed seeds the initial weights and the shuffling.
    torch.manual_seed(setup.seed)
    shuffle = torch.Generator().manual_seed(setup.seed)
    train_x, train_y = load_split(tensors, "train", str(device))
    valid_x, valid_y = load_split(tensors, "valid", str(device))

    # Batches: the tutorial's get_data, each batch gathered at once; a rank takes its part.
    train_dl, valid_dl = get_batches(TensorBatchDataset(train_x, train_y),
                                     TensorBatchDataset(valid_x, valid_y),
                                     setup.bs, shuffle, ranks.rank, ranks.world)
    if variant.reshape_batches is not None:  # "Wrapping DataLoader"
        train_dl = WrappedDataLoader(train_dl, variant.reshape_batches)
        valid_dl = WrappedDataLoader(valid_dl, variant.reshape_batches)

    # Model and optimizer, as the model's tutorial section makes them.
    model, opt = get_model(name, hyper.lr, hyper.momentum, device)
    fastest_layout(model, device)
    keep_freed_memory()  # the batches' memory reused, not mapped afresh at every step

    # Resume from rank 0's checkpoint of this very run (same params, code and data), if any.
    key = {**run, "device": device.type, "torch": torch.__version__,
           "threads": torch.get_num_threads()}
    checkpoint = Checkpoint(name, run_key(key, code, data)) if ranks.is_main else None
    history = resume(checkpoint, model, opt, shuffle, ranks, setup.epochs)
    ddp_model = parallel(model, ranks)  # the model itself with one rank
    if live is not None:
        live.write(history)  # no longer the last run's

    def epoch_done(history: list[EpochStats]) -> None:  # rank 0, after every epoch
        checkpoint.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                         "generator": shuffle.get_state(),
                         "history": [asdict(epoch) for epoch in history]})
        if live is not None:
            live.write(history)

    # Train: the tutorial's fit, the monitor as its callbacks. Then, on rank 0, score the model
    # and write it with its card (how it was made and how it scored).
    monitor = Monitor(ddp_model, valid_dl, ranks, setup.epochs, len(train_dl), history,
                      epoch_done if ranks.is_main else None, bs=setup.bs, train_rows=len(train_y))
    try:
        fit(setup.epochs - len(history), ddp_model, variant.loss_func, opt, train_dl, valid_dl,
            callbacks=monitor)
        if ranks.is_main:
            test = load_split(tensors, "test", str(device))
            scores = score_model(model, variant.loss_func, variant.reshape_batches,
                                 (valid_x, valid_y), test, setup.bs * 2, monitor.valid_outputs)
            if parent_gone():  # dvc was killed meanwhile: its dvc.lock would not record us
                log.warning("the process that started this stage has exited")
                raise Stopped(signal.SIGTERM)
            card = {**run, "device": describe(device), "train_samples": len(train_y),
                    "torch": torch.__version__,
                    "history": [asdict(epoch) for epoch in monitor.history], "scores": scores}
            save_model(weights, model.state_dict(), card)
            checkpoint.remove()
    except KeyboardInterrupt:
        if checkpoint is not None:
            log.warning("interrupted %s; no model written; %s", monitor.position(),
                        checkpoint.resume_hint())
        show(live, monitor, "stopped")
        raise
    except DivergenceError as err:
        if checkpoint is not None:
            checkpoint.remove()
        show(live, monitor, "diverged")
        raise PipelineError(f"{err}; no model written. Lower models.{name}.lr "
                            f"(now {hyper.lr}) and run again") from None
    except Exception:
        show(live, monitor, "failed")
        raise
    show(live, monitor, "done")


def show(live: LiveView | None, monitor: Monitor, status: str) -> None:
    """The live view's last word on this run (rank 0 alone has one)."""
    if live is not None:
        live.write(monitor.history, status)
