"""Train one model from the tensor files and score it: what each rank of the train stage runs.

``train.seed`` seeds the initial weights and a CPU generator for the shuffling: the same params
give byte-identical weights on the CPU. Rank 0 alone restores and saves checkpoints and scores.
"""

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from mnist_pipeline.core.model_files import read_record
from mnist_pipeline.core.params import Params
from mnist_pipeline.core.tensor_files import load_split
from mnist_pipeline.train.batches import TensorBatchDataset, get_batches
from mnist_pipeline.train.callbacks import EpochRecord, TrainingRecord
from mnist_pipeline.train.checkpoints import Checkpoint
from mnist_pipeline.train.devices import describe, fastest_layout, resolve_device
from mnist_pipeline.train.live import LiveFiles
from mnist_pipeline.train.ranks import SINGLE, Ranks, connect, parallel, unwrap
from mnist_pipeline.train.scoring import evaluate
from mnist_pipeline.tutorial.data import WrappedDataLoader
from mnist_pipeline.tutorial.models import VARIANTS, get_model

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    model: object
    record: dict[str, object]  # how it was made and how it scored (rank 0 only)


def train_variant(name: str, params: Params, tensors_dir: str,
                  checkpoint: Checkpoint | None = None, ranks: Ranks = SINGLE,
                  device: torch.device | None = None, live: LiveFiles | None = None
                  ) -> TrainResult:
    """Train and score model ``name``; ``device`` is this rank's, if already set up; ``live``
    (rank 0's) is rewritten after every epoch."""
    hyper, setup = params.model(name), params.train
    device = device or connect(ranks, resolve_device(setup.device))
    torch.manual_seed(setup.seed)
    shuffle = torch.Generator().manual_seed(setup.seed)

    train = load_split(tensors_dir, "train", str(device))
    valid = load_split(tensors_dir, "valid", str(device))
    variant = VARIANTS[name]
    train_dl, valid_dl = get_batches(TensorBatchDataset(*train), TensorBatchDataset(*valid),
                                     setup.bs, shuffle, ranks.rank, ranks.world)
    if variant.preprocess is not None:
        train_dl = WrappedDataLoader(train_dl, variant.preprocess)
        valid_dl = WrappedDataLoader(valid_dl, variant.preprocess)
    model, opt = get_model(name, hyper.lr, hyper.momentum, device)
    fastest_layout(model, device)

    history = _resume(checkpoint, model, opt, shuffle, ranks, setup.epochs)
    model = parallel(model, ranks)

    def epoch_done(done: list[EpochRecord]) -> None:
        if checkpoint is not None:
            checkpoint.save({"model": unwrap(model).state_dict(), "optimizer": opt.state_dict(),
                             "generator": shuffle.get_state(),
                             "history": [asdict(epoch) for epoch in done]})
        if live is not None:
            live.update(done, "training" if len(done) < setup.epochs else "trained",
                        record.epoch_seconds)

    if live is not None:
        live.update(history)  # the files no longer hold a finished run's results
    record = TrainingRecord(history, ranks, epoch_done if ranks.is_main else None,
                            train_rows=len(train[1]), bs=setup.bs)
    history = record.fit(setup.epochs, model, variant.loss_func, opt, train_dl, valid_dl)
    model = unwrap(model)
    if not ranks.is_main:
        return TrainResult(model, {})
    test = load_split(tensors_dir, "test", str(device))
    return TrainResult(model, {
        "model": name, "device": describe(device), "seed": setup.seed, "epochs": setup.epochs,
        "bs": setup.bs, "lr": hyper.lr, "momentum": hyper.momentum, "nproc": ranks.world,
        "train_samples": len(train[0]), "torch": torch.__version__,
        "history": [asdict(epoch) for epoch in history],
        "evaluation": evaluate(model, variant, valid, test, setup.bs * 2,
                               record.last_validation()),
    })


def _resume(checkpoint: Checkpoint | None, model, opt, shuffle: torch.Generator,
            ranks: Ranks, epochs: int) -> list[EpochRecord]:
    """The epochs a checkpoint holds (rank 0's, on every rank), loaded into the training."""
    saved = ranks.from_main(checkpoint.load() if checkpoint is not None and ranks.is_main
                            else None)
    if saved is None:
        return []
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optimizer"])
    shuffle.set_state(saved["generator"])
    history = [EpochRecord(**row) for row in saved["history"]]
    if ranks.is_main:
        log.info("resuming after epoch %d/%d from %s", len(history), epochs, checkpoint.path)
    return history


def load_model(name: str, path: str | Path, device: torch.device | str = "cpu"):
    """Model ``name`` with the weights of the model file ``path``: ``(model, record)``."""
    record = read_record(path, name)
    model, _ = get_model(name, lr=1.0, momentum=0.0, dev=device)
    model.load_state_dict(load_file(str(path), device=str(device)))
    return model, record
