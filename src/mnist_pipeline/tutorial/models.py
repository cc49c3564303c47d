"""Sections "Refactor using nn.Linear" to "Wrapping DataLoader": the ``torch.nn`` models, and
``get_model`` for every model; ``VARIANTS`` says how each section trains its model.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn, optim

from mnist_pipeline.core.names import MODEL_NAMES, check_model_name
from mnist_pipeline.tutorial import data
from mnist_pipeline.tutorial.scratch import ManualSGD, Scratch, nll


class Mnist_Logistic(nn.Module):  # noqa: N801 - the tutorial's name
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(784, 10)

    def forward(self, xb):
        return self.lin(xb)


class Mnist_CNN(nn.Module):  # noqa: N801 - the tutorial's name
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(16, 16, kernel_size=3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(16, 10, kernel_size=3, stride=2, padding=1)

    def forward(self, xb):
        xb = xb.view(-1, 1, 28, 28)
        xb = F.relu(self.conv1(xb))
        xb = F.relu(self.conv2(xb))
        xb = F.relu(self.conv3(xb))
        xb = F.avg_pool2d(xb, 4)
        return xb.view(-1, xb.size(1))


class Lambda(nn.Module):
    def __init__(self, func):
        super().__init__()
        self.func = func

    def forward(self, x):
        return self.func(x)


def preprocess(x):  # section "nn.Sequential"
    return x.view(-1, 1, 28, 28)


def sequential_cnn() -> nn.Sequential:
    """Section "nn.Sequential": ``Mnist_CNN`` as layers, ``Lambda`` for the reshapes."""
    return nn.Sequential(
        Lambda(preprocess),
        nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 10, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.AvgPool2d(4),
        Lambda(lambda x: x.view(x.size(0), -1)),
    )


def adaptive_cnn() -> nn.Sequential:
    """Section "Wrapping DataLoader": the reshape moved into the loader (``data.preprocess``)
    and ``AdaptiveAvgPool2d``, so the model takes any image size."""
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 10, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        Lambda(lambda x: x.view(x.size(0), -1)),
    )


def sgd(params, lr: float, momentum: float) -> optim.SGD:
    return optim.SGD(params, lr=lr, momentum=momentum)


def manual_update(params, lr: float, momentum: float) -> ManualSGD:
    return ManualSGD(list(params), lr)  # params.yaml holds scratch's momentum at 0


@dataclass(frozen=True)
class Variant:
    model: Callable[[], object]
    loss_func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    optimizer: Callable[..., object] = sgd
    preprocess: Callable | None = None  # what WrappedDataLoader applies to every batch


VARIANTS: dict[str, Variant] = {
    "scratch": Variant(Scratch, nll, manual_update),
    "logistic": Variant(Mnist_Logistic, F.cross_entropy),
    "cnn": Variant(Mnist_CNN, F.cross_entropy),
    "sequential": Variant(sequential_cnn, F.cross_entropy),
    "adaptive": Variant(adaptive_cnn, F.cross_entropy, preprocess=data.preprocess),
}
assert tuple(VARIANTS) == MODEL_NAMES, "names.MODEL_NAMES must list VARIANTS in order"


def get_model(name: str, lr: float, momentum: float, dev: torch.device | str = "cpu"):
    """The tutorial's ``get_model``: ``(model, opt)``, the weights drawn on the CPU (the same on
    any device), moved to ``dev`` before the optimizer is made, as in "Using your GPU"."""
    variant = VARIANTS[check_model_name(name)]
    model = variant.model().to(dev)
    return model, variant.optimizer(model.parameters(), lr, momentum)
