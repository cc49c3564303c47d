"""Mini-batches sliced from tensors already in memory.

``DataLoader(TensorDataset(x, y), batch_size=bs, shuffle=True)`` indexes and collates one sample
at a time. ``TensorBatches`` gives the same batches (a fresh random permutation per epoch when
shuffling, the last partial batch kept) by indexing whole batches at once, on whatever device the
tensors live, so an epoch costs the model's work and little else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

Batch = tuple[torch.Tensor, torch.Tensor]


class TensorBatches:
    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        bs: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        if len(x) != len(y):
            raise ValueError(f"{len(x)} inputs but {len(y)} targets")
        if bs < 1:
            raise ValueError(f"batch size must be >= 1, got {bs}")
        self.x, self.y, self.bs = x, y, bs
        self.shuffle = shuffle
        self.generator = generator

    def __len__(self) -> int:
        return (len(self.x) + self.bs - 1) // self.bs

    def order(self) -> torch.Tensor:
        """This epoch's sample order, drawn like ``RandomSampler`` (on the CPU generator)."""
        return torch.randperm(len(self.x), generator=self.generator)

    def __iter__(self) -> Iterator[Batch]:
        n, bs = len(self.x), self.bs
        if not self.shuffle:
            for start in range(0, n, bs):
                yield self.x[start : start + bs], self.y[start : start + bs]
            return
        order = self.order().to(self.x.device)
        for start in range(0, n, bs):
            index = order[start : start + bs]
            yield self.x.index_select(0, index), self.y.index_select(0, index)


class WrappedBatches:
    """The tutorial's ``WrappedDataLoader``: applies ``func`` to every batch."""

    def __init__(self, batches, func: Callable[[torch.Tensor, torch.Tensor], Batch]) -> None:
        self.batches = batches
        self.func = func

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[Batch]:
        for batch in self.batches:
            yield self.func(*batch)


def get_data(train: Batch, valid: Batch, bs: int, generator: torch.Generator | None = None):
    """The tutorial's ``get_data``: shuffled training batches, validation batches twice as big."""
    return (
        TensorBatches(*train, bs, shuffle=True, generator=generator),
        TensorBatches(*valid, bs * 2),
    )
