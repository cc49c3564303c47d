"""What the train stage does in each process, around ``variant.train_variant``: code and data
hashed (the data on another core), torch imported fast, rank and device, a checkpoint keyed to
the run's inputs, rank 0's model file, and what was kept when a run stops or diverges."""

import logging
import os
import signal
from pathlib import Path

from mnist_pipeline.core.cli import Stopped, frozen_imports, parent_gone
from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.core.params import Params
from mnist_pipeline.train.checkpoints import Checkpoint, code_digest, data_digest, run_key

log = logging.getLogger("train")


def train_and_save(name: str, params: Params, tensors: str, weights: str,
                   live_paths: tuple[str, str] | None = None) -> None:
    """``live_paths``: the model's metrics and history files, rewritten after every epoch."""
    # The code as imported now, not as it may be on disk when the first checkpoint is saved.
    code = code_digest()
    # Hashed on another core while torch imports, for the checkpoint's key and the nodes' check.
    digest = data_digest(tensors) if os.environ.get("LOCAL_RANK", "0") == "0" else None

    with frozen_imports():
        from mnist_pipeline.train import dynamo_stand_in

        dynamo_stand_in.install()  # optim.SGD without importing the compiler: ~2 s saved
        import torch

        from mnist_pipeline.core.model_files import save_model
        from mnist_pipeline.train import ranks as processes
        from mnist_pipeline.train.callbacks import DivergenceError, TrainingInterrupted
        from mnist_pipeline.train.devices import resolve_device
        from mnist_pipeline.train.live import LiveFiles
        from mnist_pipeline.train.variant import train_variant

    setup, hyper = params.train, params.model(name)
    ranks = processes.ranks_from_environment()
    device = processes.connect(ranks, resolve_device(setup.device))
    if setup.nnodes > 1:
        processes.same_inputs_everywhere(ranks, code, digest)
    inputs = {"model": name, "train": [setup.seed, setup.bs, setup.epochs],
              "device": device.type, "lr": hyper.lr, "momentum": hyper.momentum,
              "ranks": ranks.world, "torch": torch.__version__,
              "threads": torch.get_num_threads()}
    checkpoint = Checkpoint(name, run_key(inputs, code, digest)) if ranks.is_main else None
    live = (LiveFiles(Path(live_paths[0]), Path(live_paths[1]), setup.epochs, device.type,
                      ranks.world) if live_paths and ranks.is_main else None)
    try:
        result = train_variant(name, params, tensors, checkpoint, ranks, device, live)
    except TrainingInterrupted as stop:
        if checkpoint is not None:
            log.warning("%s; %s", stop, kept(checkpoint))
        if live is not None:
            live.update(live.done, "stopped")
        raise
    except DivergenceError as err:
        if live is not None:
            live.update(live.done, "diverged")
        if checkpoint is not None:
            checkpoint.remove()
        raise PipelineError(f"{err}; no model written. Lower models.{name}.lr "
                            f"(now {hyper.lr}) and run again") from None
    if ranks.is_main:
        if parent_gone():  # dvc was killed while this ran: its dvc.lock will not record us
            log.warning("the process that started this stage has exited; no model written; %s",
                        kept(checkpoint))
            if live is not None:
                live.update(live.done, "stopped")
            raise Stopped(signal.SIGTERM)
        save_model(weights, result.model.state_dict(), result.record)
        checkpoint.remove()
    processes.disconnect(ranks)


def kept(checkpoint: Checkpoint) -> str:
    """What an interrupted run leaves for the next one."""
    done = checkpoint.saved_epoch
    if not done:
        return "no epoch had finished: the next run starts from scratch"
    epochs = "epoch 1 is" if done == 1 else f"epochs 1-{done} are"
    return f"{epochs} saved in {checkpoint.path}: run `dvc repro` again to resume"
