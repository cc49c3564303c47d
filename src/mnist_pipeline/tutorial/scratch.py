"""Section "Neural net from scratch (no torch.nn)": ``log_softmax``, ``nll``, ``accuracy``; the
model on two plain tensors (``Scratch``) and its update (``ManualSGD``), each with the few
methods that ``fit``, a checkpoint and a GPU ask of a model or an optimizer.
"""

from __future__ import annotations

import math

import torch


def log_softmax(x):
    return x - x.exp().sum(-1).log().unsqueeze(-1)


def nll(input, target):
    return -input[range(target.shape[0]), target].mean()


def accuracy(out, yb):
    preds = torch.argmax(out, dim=1)
    return (preds == yb).float().mean()


class Scratch:
    """``log_softmax(xb @ weights + bias)`` on two plain tensors; no ``nn.Module``, as in the
    section, just what ``fit`` and a checkpoint ask of a model."""

    def __init__(self) -> None:
        # Xavier initialisation; requires_grad is set after it so the init is not recorded.
        self.weights = torch.randn(784, 10) / math.sqrt(784)
        self.weights.requires_grad_()
        self.bias = torch.zeros(10, requires_grad=True)

    def __call__(self, xb):
        return log_softmax(xb @ self.weights + self.bias)

    def parameters(self) -> list[torch.Tensor]:
        return [self.weights, self.bias]

    def to(self, device) -> Scratch:
        with torch.no_grad():
            self.weights = self.weights.to(device).requires_grad_()
            self.bias = self.bias.to(device).requires_grad_()
        return self

    def train(self, mode: bool = True) -> Scratch:
        return self

    def eval(self) -> Scratch:
        return self

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"weights": self.weights.detach(), "bias": self.bias.detach()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            self.weights.copy_(state["weights"])
            self.bias.copy_(state["bias"])


class ManualSGD:
    """The section's update, ``weights -= weights.grad * lr`` under ``torch.no_grad()``, for
    each parameter (as "Refactor using optim" writes it), as an optimizer."""

    def __init__(self, params: list[torch.Tensor], lr: float) -> None:
        self.params, self.lr = params, lr

    def step(self) -> None:
        with torch.no_grad():
            for p in self.params:
                p -= p.grad * self.lr

    def zero_grad(self) -> None:
        # Dropped rather than zeroed, as optim's zero_grad does (set_to_none): backward then
        # writes the next gradient instead of adding it to zeros, with the same values.
        for p in self.params:
            p.grad = None

    def state_dict(self) -> dict[str, object]:
        return {}  # plain SGD keeps nothing between steps

    def load_state_dict(self, state: dict[str, object]) -> None:
        pass
