"""Train one model variant from the tensor files and evaluate it, as the train stage does.

Seeding: ``train.seed`` seeds torch's global RNG (the weights' initialisation) and a separate
CPU generator for the shuffling order, so the same params give the same batches and, on the CPU,
byte-identical weights. A checkpoint (see ``checkpoints``) restores the model, the optimizer and
that generator after the last finished epoch, so a resumed run ends with the same bytes.

With several ranks (``train.nproc``), every rank runs this with its own slice of each batch;
rank 0 alone restores and saves checkpoints (and hands the restored state to the others), and
evaluates the trained model for the record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from mnist_pipeline.batches import get_data
from mnist_pipeline.checkpoints import Checkpoint
from mnist_pipeline.devices import describe, resolve_device
from mnist_pipeline.distributed import SINGLE, Ranks, connect, data_parallel, rank_device, unwrap
from mnist_pipeline.evaluation import evaluate
from mnist_pipeline.models import get_model, variant
from mnist_pipeline.params import Params
from mnist_pipeline.tensors import load_split
from mnist_pipeline.training import EpochRecord, fit

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    model: object
    metadata: dict[str, object]  # how it was made and how it scored (rank 0 only)


def rank_setup(setting: str, ranks: Ranks) -> torch.device:
    """This rank's device for ``train.device``, its process group joined."""
    device = rank_device(ranks, resolve_device(setting))
    connect(ranks, device)
    return device


def parallelize(model, opt, manual_update: bool, ranks: Ranks, train_dl):
    """The model (wrapped in DDP, or ``opt`` averaging by hand) that sums each rank's gradients
    weighted by its share of the batch; the model itself with one rank."""
    if ranks.world == 1:
        return model
    if manual_update:
        opt.average = lambda grads: ranks.weighted_sum_(grads, train_dl.share)
        return model
    return data_parallel(model, ranks, train_dl)


def train_variant(name: str, params: Params, tensors_dir: str,
                  checkpoint: Checkpoint | None = None, ranks: Ranks = SINGLE,
                  device: torch.device | None = None) -> TrainResult:
    """Train and evaluate variant ``name``; ``device`` is this rank's, if already set up."""
    hyper = params.model(name)
    setup = params.train
    if device is None:
        device = rank_setup(setup.device, ranks)
    torch.manual_seed(setup.seed)
    shuffle_generator = torch.Generator().manual_seed(setup.seed)

    train = load_split(tensors_dir, "train", str(device))
    valid = load_split(tensors_dir, "valid", str(device))
    spec = variant(name)
    train_dl, valid_dl = map(spec.loader, get_data(train, valid, setup.bs, shuffle_generator,
                                                   ranks.rank, ranks.world))
    model, opt = get_model(name, hyper.lr, hyper.momentum, device)

    saved = checkpoint.load() if checkpoint is not None and ranks.is_main else None
    saved = ranks.from_main(saved)
    history: list[EpochRecord] = []
    if saved is not None:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        shuffle_generator.set_state(saved["generator"])
        history = [EpochRecord(**row) for row in saved["history"]]
        if ranks.is_main:
            log.info("resuming after epoch %d/%d from %s", len(history), setup.epochs,
                     checkpoint.path)

    model = parallelize(model, opt, spec.manual_update, ranks, train_dl)

    def save_checkpoint(done: list[EpochRecord]) -> None:
        checkpoint.save({
            "model": unwrap(model).state_dict(),
            "optimizer": opt.state_dict(),
            "generator": shuffle_generator.get_state(),
            "history": [record.as_row() for record in done],
        })

    history = fit(setup.epochs, model, spec.loss_func, opt, train_dl, valid_dl,
                  history=history, ranks=ranks,
                  on_epoch_end=save_checkpoint if checkpoint and ranks.is_main else None)
    model = unwrap(model)
    if not ranks.is_main:
        return TrainResult(model, {})
    test = load_split(tensors_dir, "test", str(device))
    metadata = {
        "model": name,
        "device": describe(device),
        "seed": setup.seed,
        "epochs": setup.epochs,
        "bs": setup.bs,
        "lr": hyper.lr,
        "momentum": hyper.momentum,
        "nproc": ranks.world,
        "train_samples": len(train[0]),
        "torch": torch.__version__,
        "history": [record.as_row() for record in history],
        "evaluation": evaluate(model, spec, valid, test, setup.bs * 2),
    }
    return TrainResult(model, metadata)
