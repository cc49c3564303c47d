"""Sections "Refactor using nn.Linear" to "Wrapping DataLoader": the ``torch.nn`` models.

``sequential_cnn`` and ``adaptive_cnn`` build the ``nn.Sequential`` the tutorial assigns to
``model`` in those two sections, so that a new one can be made for every training.
"""

import torch.nn.functional as F
from torch import nn


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
