"""The models that params.yaml names, each built as its tutorial section builds it: the model,
its loss function, its optimizer and, for the adaptive CNN, the reshape its loader applies.

To train a model of your own: a class (or function) that builds it, an entry in ``VARIANTS``
here, and an entry under ``models:`` in params.yaml (the README shows one).
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch.nn.functional as F
from torch import optim

from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.core.names import did_you_mean
from mnist_pipeline.tutorial import data
from mnist_pipeline.tutorial.models import Mnist_CNN, Mnist_Logistic, adaptive_cnn, sequential_cnn
from mnist_pipeline.tutorial.scratch import ManualSGD, Scratch, nll


def sgd(params, lr: float, momentum: float) -> optim.SGD:
    return optim.SGD(params, lr=lr, momentum=momentum)


def manual_sgd(params, lr: float, momentum: float) -> ManualSGD:
    return ManualSGD(list(params), lr)  # params.yaml holds scratch's momentum at 0


@dataclass(frozen=True)
class Variant:
    model: Callable[[], object]  # draws its initial weights from torch's global generator
    loss_func: Callable = F.cross_entropy
    optimizer: Callable[..., object] = sgd  # (parameters, lr, momentum)
    reshape_batches: Callable | None = None  # given to WrappedDataLoader with the batches


VARIANTS: dict[str, Variant] = {
    "scratch": Variant(Scratch, nll, manual_sgd),
    "logistic": Variant(Mnist_Logistic),
    "cnn": Variant(Mnist_CNN),
    "sequential": Variant(sequential_cnn),
    "adaptive": Variant(adaptive_cnn, reshape_batches=data.preprocess),
}


class UnknownModelError(PipelineError, ValueError):
    """A model name that has no entry in ``VARIANTS``."""


def check_models(names: Iterable[str]) -> None:
    """Fail, naming it, on a model (of params.yaml's ``models``) with no entry here."""
    for name in names:
        if name not in VARIANTS:
            raise UnknownModelError(
                f"models.{name}: unknown model{did_you_mean(name, tuple(VARIANTS))} (known: "
                f"{', '.join(VARIANTS)}; a new one needs an entry in VARIANTS, {__name__})")


def get_model(name: str, lr: float, momentum: float, dev="cpu"):
    """The tutorial's ``get_model`` for model ``name``: ``(model, opt)``, the weights drawn on
    the CPU (the same on any device) and moved to ``dev`` before the optimizer is made, as in
    "Using your GPU"."""
    check_models([name])
    variant = VARIANTS[name]
    model = variant.model().to(dev)
    return model, variant.optimizer(model.parameters(), lr, momentum)
