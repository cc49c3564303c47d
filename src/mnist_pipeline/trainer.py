"""Train one model variant from the tensor files, as the train stage does.

Seeding: ``train.seed`` seeds torch's global RNG (the weights' initialisation) and a separate
CPU generator for the shuffling order, so the same params give the same batches and, on the CPU,
byte-identical weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mnist_pipeline.batches import get_data
from mnist_pipeline.devices import describe, resolve_device
from mnist_pipeline.models import get_model, variant
from mnist_pipeline.params import Params
from mnist_pipeline.tensors import load_split
from mnist_pipeline.training import fit


@dataclass
class TrainResult:
    model: object
    metadata: dict[str, object]  # how it was made, per-epoch history included


def train_variant(name: str, params: Params, tensors_dir: str) -> TrainResult:
    hyper = params.model(name)
    setup = params.train
    device = resolve_device(setup.device)
    torch.manual_seed(setup.seed)
    shuffle_generator = torch.Generator().manual_seed(setup.seed)

    train = load_split(tensors_dir, "train", str(device))
    valid = load_split(tensors_dir, "valid", str(device))
    spec = variant(name)
    train_dl, valid_dl = map(spec.loader, get_data(train, valid, setup.bs, shuffle_generator))

    model, opt = get_model(name, hyper.lr, hyper.momentum, device)
    history = fit(setup.epochs, model, spec.loss_func, opt, train_dl, valid_dl)
    metadata = {
        "model": name,
        "device": describe(device),
        "seed": setup.seed,
        "epochs": setup.epochs,
        "bs": setup.bs,
        "lr": hyper.lr,
        "momentum": hyper.momentum,
        "train_samples": len(train[0]),
        "torch": torch.__version__,
        "history": [record.as_row() for record in history],
    }
    return TrainResult(model, metadata)
