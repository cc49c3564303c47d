"""The train stage's batches: the tutorial's ``get_data``, each batch drawn at once; and a
model's outputs for a split's batches (``predict``), which the evaluate stage uses too.

``DataLoader`` gets whole batches of indices (``batch_size=None, sampler=BatchIndices(...)``),
not one sample at a time (pytorch/pytorch#106704): the same shuffled batches, one gather each,
one ``torch.randperm`` per epoch (``RandomSampler`` draws a second, which would shift the order).
With several ranks each takes an equal part of a batch, or all of an uneven last one.
"""

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Sampler, TensorDataset


def get_batches(train_ds, valid_ds, bs, generator=None, rank=0, world=1):
    """The tutorial's ``get_data``: shuffled training batches of ``bs`` (drawn from
    ``generator``), validation batches of twice that; with ranks, this rank's part of each."""
    first, stop = rank_slice(len(valid_ds), rank, world)
    device = train_ds.tensors[0].device if isinstance(train_ds, TensorDataset) else "cpu"
    return (
        DataLoader(train_ds, batch_size=None, sampler=BatchIndices(
            len(train_ds), bs, True, generator, rank, world, device=device)),
        DataLoader(valid_ds, batch_size=None, sampler=BatchIndices(stop, bs * 2, start=first)),
    )


@torch.no_grad()
def predict(model, batches) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's outputs for every batch, and the matching targets, concatenated."""
    model.eval()
    outputs, targets = [], []
    for xb, yb in batches:
        outputs.append(model(xb))
        targets.append(yb)
    return torch.cat(outputs), torch.cat(targets)


def in_order(x: torch.Tensor, y: torch.Tensor, bs: int) -> DataLoader:
    """A whole split in order, in batches of ``bs``."""
    return DataLoader(TensorDataset(x, y), batch_size=None, sampler=BatchIndices(len(y), bs))


class BatchIndices(Sampler):
    """Rows ``start`` to ``n`` in batches, each one index: a slice, or when shuffling this rank's
    part of a slice of one CPU ``torch.randperm`` per epoch (the same order on any device)."""

    def __init__(self, n: int, bs: int, shuffle: bool = False,
                 generator: torch.Generator | None = None, rank: int = 0, world: int = 1,
                 start: int = 0, device: torch.device | str = "cpu") -> None:
        if bs < 1 or not 0 <= rank < world:
            raise ValueError(f"batch size {bs}, rank {rank} of {world}: expected bs >= 1 and "
                             "0 <= rank < world")
        self.n, self.bs, self.start = n, bs, start
        self.shuffle, self.generator, self.device = shuffle, generator, device
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        return -(-(self.n - self.start) // self.bs)

    def __iter__(self) -> Iterator[slice | torch.Tensor]:
        if not self.shuffle:
            for first in range(self.start, self.n, self.bs):
                yield slice(first, min(first + self.bs, self.n))
            return
        order = torch.randperm(self.n, generator=self.generator).to(self.device)
        for first in range(0, self.n, self.bs):
            batch = order[first:first + self.bs]
            if self.world > 1 and len(batch) % self.world == 0:  # else each takes it all
                batch = batch.tensor_split(self.world)[self.rank]
            yield batch


class TensorBatchDataset(TensorDataset):
    """A ``TensorDataset`` that gathers a tensor of indices with ``index_select``: the rows
    ``tensor[indices]`` gives, faster (see benchmarks/README.md)."""

    def __getitem__(self, index):
        if isinstance(index, torch.Tensor):
            return tuple(tensor.index_select(0, index) for tensor in self.tensors)
        return super().__getitem__(index)


def rank_slice(rows: int, rank: int, world: int) -> tuple[int, int]:
    """``(start, stop)`` of ``rank``'s part of ``rows`` rows: the first ``rows % world`` get one
    more, so parts differ by at most one row."""
    base, extra = divmod(rows, world)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)
