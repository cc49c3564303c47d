"""Every model of the tutorial, built the way its section builds it, in one registry.

``VARIANTS[name]`` says how to build a variant, its loss function, whether it uses the manual
update and the batch transform its data loader applies; ``get_model(name, lr, momentum)``
returns ``(model, opt)`` ready for ``training.fit``:

* ``scratch``: "Neural net from scratch": hand-made Xavier-initialised weights, a hand-written
  ``log_softmax`` and ``nll``, and the manual SGD update under ``torch.no_grad()``.
* ``logistic``: ``Mnist_Logistic`` with ``nn.Linear``, ``F.cross_entropy`` and ``optim.SGD``.
* ``cnn``: ``Mnist_CNN``, three stride-2 convolutions and ``avg_pool2d(4)``.
* ``sequential``: the same CNN as ``nn.Sequential`` with ``Lambda`` layers for the reshapes.
* ``adaptive``: the reshape moved into the data loader and ``AdaptiveAvgPool2d(1)``, so the model
  takes any image size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn, optim

from mnist_pipeline.batches import Batch, WrappedBatches
from mnist_pipeline.registry import VARIANT_NAMES

# --- scratch: plain tensors and hand-written functions ---------------------------------------


def log_softmax(x: torch.Tensor) -> torch.Tensor:
    return x - x.exp().sum(-1).log().unsqueeze(-1)


def nll(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -input[range(target.shape[0]), target].mean()


class ScratchLogistic:
    """The tutorial's first model: ``log_softmax(xb @ weights + bias)`` on bare tensors.

    Not an ``nn.Module`` on purpose: this section of the tutorial uses none of ``torch.nn``.
    It offers just what the training loop and the weight files need.
    """

    def __init__(self) -> None:
        # Xavier initialisation; requires_grad is set after it so the init is not recorded.
        self.weights = torch.randn(784, 10) / math.sqrt(784)
        self.weights.requires_grad_()
        self.bias = torch.zeros(10, requires_grad=True)

    def __call__(self, xb: torch.Tensor) -> torch.Tensor:
        return log_softmax(xb @ self.weights + self.bias)

    def parameters(self) -> list[torch.Tensor]:
        return [self.weights, self.bias]

    def to(self, device: torch.device | str) -> ScratchLogistic:
        with torch.no_grad():
            self.weights = self.weights.to(device).requires_grad_()
            self.bias = self.bias.to(device).requires_grad_()
        return self

    def train(self, mode: bool = True) -> ScratchLogistic:  # nothing behaves differently
        return self

    def eval(self) -> ScratchLogistic:
        return self

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"weights": self.weights.detach(), "bias": self.bias.detach()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            self.weights.copy_(state["weights"])
            self.bias.copy_(state["bias"])


class ManualSGD:
    """The tutorial's hand-written update, ``w -= w.grad * lr``, behind ``step``/``zero_grad``.

    ``add_(grad, alpha=-lr)`` computes exactly ``w - grad * lr`` (negation is exact in floating
    point) in one pass instead of two; dropping the gradients instead of zeroing them is what
    ``optim``'s ``zero_grad`` does too. Both matter when a step is a few microseconds of math.
    With several ranks, ``average`` first turns each rank's gradients into the whole batch's
    (the job DDP does for ``nn.Module``s, done by hand as the rest of this model is).
    """

    def __init__(self, params: list[torch.Tensor], lr: float,
                 average: Callable[[list[torch.Tensor]], None] | None = None) -> None:
        self.params = params
        self.lr = lr
        self.average = average

    def step(self) -> None:
        if self.average is not None:
            self.average([p.grad for p in self.params])
        with torch.no_grad():
            for p in self.params:
                p.add_(p.grad, alpha=-self.lr)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def state_dict(self) -> dict[str, object]:
        return {}  # plain SGD keeps no state between steps

    def load_state_dict(self, state: dict[str, object]) -> None:
        pass


# --- torch.nn refactors ----------------------------------------------------------------------


class Mnist_Logistic(nn.Module):  # noqa: N801 - the tutorial's name
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(784, 10)

    def forward(self, xb: torch.Tensor) -> torch.Tensor:
        return self.lin(xb)


class Mnist_CNN(nn.Module):  # noqa: N801 - the tutorial's name
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(16, 16, kernel_size=3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(16, 10, kernel_size=3, stride=2, padding=1)

    def forward(self, xb: torch.Tensor) -> torch.Tensor:
        xb = xb.view(-1, 1, 28, 28)
        xb = F.relu(self.conv1(xb))
        xb = F.relu(self.conv2(xb))
        xb = F.relu(self.conv3(xb))
        xb = F.avg_pool2d(xb, 4)
        return xb.view(-1, xb.size(1))


class Lambda(nn.Module):
    """A layer from a function, so ``nn.Sequential`` can hold a reshape."""

    def __init__(self, func: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.func = func

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.func(x)


def to_images(x: torch.Tensor) -> torch.Tensor:
    return x.view(-1, 1, 28, 28)


def flatten(x: torch.Tensor) -> torch.Tensor:
    return x.view(x.size(0), -1)


def images_batch(x: torch.Tensor, y: torch.Tensor) -> Batch:
    """The ``adaptive`` variant's loader transform (the tutorial's ``preprocess(x, y)``)."""
    return to_images(x), y


def _conv_stack(pool: nn.Module) -> list[nn.Module]:
    return [
        nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 10, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        pool,
    ]


def sequential_cnn() -> nn.Sequential:
    return nn.Sequential(Lambda(to_images), *_conv_stack(nn.AvgPool2d(4)), Lambda(flatten))


def adaptive_cnn() -> nn.Sequential:
    return nn.Sequential(*_conv_stack(nn.AdaptiveAvgPool2d(1)), Lambda(flatten))


# --- the registry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    build: Callable[[], object]
    loss_func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    manual_update: bool = False  # the hand-written update instead of optim.SGD
    preprocess: Callable[[torch.Tensor, torch.Tensor], Batch] | None = None
    convolutional: bool = False

    def loader(self, batches):
        """``batches`` as this variant's model takes them (the tutorial's wrapped loader)."""
        return batches if self.preprocess is None else WrappedBatches(batches, self.preprocess)


VARIANTS: dict[str, Variant] = {
    "scratch": Variant(ScratchLogistic, nll, manual_update=True),
    "logistic": Variant(Mnist_Logistic, F.cross_entropy),
    "cnn": Variant(Mnist_CNN, F.cross_entropy, convolutional=True),
    "sequential": Variant(sequential_cnn, F.cross_entropy, convolutional=True),
    "adaptive": Variant(adaptive_cnn, F.cross_entropy, preprocess=images_batch,
                        convolutional=True),
}
assert tuple(VARIANTS) == VARIANT_NAMES, "registry.VARIANT_NAMES must list VARIANTS in order"


def variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise KeyError(f"unknown model {name!r}; valid models: {', '.join(VARIANTS)}")
    return VARIANTS[name]


def build_model(name: str, device: torch.device | str = "cpu"):
    """A fresh model of variant ``name`` on ``device``, initialised from torch's global RNG.

    Weights are drawn on the CPU and then moved, so a seed gives the same start on any device.
    On the CPU, convolutional models use the channels-last memory layout: oneDNN's convolutions
    run about 1.7x faster in it on MNIST-sized batches. The math and the saved weights are the
    same; only how the activations sit in memory differs.
    """
    spec = variant(name)
    model = spec.build().to(device)
    if spec.convolutional and torch.device(device).type == "cpu":
        model = model.to(memory_format=torch.channels_last)
    return model


def make_optimizer(name: str, model, lr: float, momentum: float):
    if variant(name).manual_update:
        return ManualSGD(list(model.parameters()), lr)
    return optim.SGD(model.parameters(), lr=lr, momentum=momentum)


def get_model(name: str, lr: float, momentum: float, device: torch.device | str = "cpu"):
    """The tutorial's ``get_model``: ``(model, opt)`` for variant ``name``."""
    model = build_model(name, device)
    return model, make_optimizer(name, model, lr, momentum)
