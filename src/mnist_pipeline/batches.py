"""Mini-batches sliced from tensors already in memory, split across ranks when there are several.

``DataLoader(TensorDataset(x, y), batch_size=bs, shuffle=True)`` indexes and collates one sample
at a time. ``TensorBatches`` gives the same batches (a fresh random permutation per epoch when
shuffling, the last partial batch kept) by indexing whole batches at once, on whatever device the
tensors live, so an epoch costs the model's work and little else.

With several ranks (``train.nproc > 1``), every rank draws the same permutation and takes its
own slice of each global training batch: ``bs / world`` rows of a full batch, and an
as-even-as-possible part of the last partial one. ``share`` tells the gradient averaging what
fraction of the global batch this rank held, so that the update stays the one-process update: no
sample is dropped or counted twice (``DistributedSampler`` pads with repeated samples instead).
A last batch with fewer rows than ranks cannot be split (a rank with no rows cannot run the
tutorial's models, whose reshapes need at least one), so every rank takes all of it with a share
of ``1 / world``: the same gradient, computed redundantly. Validation splits the whole split into
contiguous parts instead. With one rank the slice is the whole batch and nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

Batch = tuple[torch.Tensor, torch.Tensor]


def rank_slice(rows: int, rank: int, world: int) -> tuple[int, int]:
    """``(start, stop)`` of ``rank``'s part of ``rows`` rows: the first ``rows % world`` get one
    more, so parts differ by at most one row."""
    base, extra = divmod(rows, world)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


class TensorBatches:
    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        bs: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        if len(x) != len(y):
            raise ValueError(f"{len(x)} inputs but {len(y)} targets")
        if bs < 1:
            raise ValueError(f"batch size must be >= 1, got {bs}")
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} is not in a world of {world}")
        self.x, self.y, self.bs = x, y, bs
        self.shuffle = shuffle
        self.generator = generator
        self.rank, self.world = rank, world
        self.share = 1.0  # this rank's part of the batch last given (its rows / the batch's)
        self.rows = 0  # the rows of the whole (global) batch last given

    def __len__(self) -> int:
        return (len(self.x) + self.bs - 1) // self.bs

    def order(self) -> torch.Tensor:
        """This epoch's sample order, drawn like ``RandomSampler`` (on the CPU generator)."""
        return torch.randperm(len(self.x), generator=self.generator)

    def __iter__(self) -> Iterator[Batch]:
        n, bs = len(self.x), self.bs
        order = self.order().to(self.x.device) if self.shuffle else None
        for start in range(0, n, bs):
            rows = self.rows = min(bs, n - start)
            if rows < self.world:  # every rank takes the whole tiny batch, weighted 1 / world
                first, stop, self.share = 0, rows, 1 / self.world
            else:
                first, stop = rank_slice(rows, self.rank, self.world)
                self.share = (stop - first) / rows
            first, stop = start + first, start + stop
            if order is None:
                yield self.x[first:stop], self.y[first:stop]
            else:
                index = order[first:stop]
                yield self.x.index_select(0, index), self.y.index_select(0, index)


class WrappedBatches:
    """The tutorial's ``WrappedDataLoader``: applies ``func`` to every batch."""

    def __init__(self, batches, func: Callable[[torch.Tensor, torch.Tensor], Batch]) -> None:
        self.batches = batches
        self.func = func

    def __len__(self) -> int:
        return len(self.batches)

    @property
    def share(self) -> float:
        return self.batches.share

    @property
    def rows(self) -> int:
        return self.batches.rows

    def __iter__(self) -> Iterator[Batch]:
        for batch in self.batches:
            yield self.func(*batch)


def get_data(train: Batch, valid: Batch, bs: int, generator: torch.Generator | None = None,
             rank: int = 0, world: int = 1):
    """The tutorial's ``get_data``: shuffled training batches, validation batches twice as big.

    ``bs`` is the global batch: with several ranks each takes its slice of every training batch,
    and its contiguous part of the validation split.
    """
    first, stop = rank_slice(len(valid[0]), rank, world)
    return (
        TensorBatches(*train, bs, shuffle=True, generator=generator, rank=rank, world=world),
        TensorBatches(valid[0][first:stop], valid[1][first:stop], bs * 2),
    )
