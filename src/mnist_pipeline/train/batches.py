"""The tutorial's ``get_data`` with each batch drawn at once: ``DataLoader`` over whole batches
of indices, not samples (pytorch/pytorch#106704), one ``torch.randperm`` per epoch
(``RandomSampler`` draws a second, shifting the order); a rank takes its equal part of each
batch, or all of an uneven last one. And ``predict``, a model's outputs for a split."""

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
def predict(model, batches) -> tuple[torch.Tensor, torch.Tensor]:  # all outputs, all targets
    model.eval()
    outputs, targets = zip(*[(model(xb), yb) for xb, yb in batches], strict=True)
    return torch.cat(outputs), torch.cat(targets)


def in_order(x: torch.Tensor, y: torch.Tensor, bs: int) -> DataLoader:  # a split, in order
    return DataLoader(TensorDataset(x, y), batch_size=None, sampler=BatchIndices(len(y), bs))


class BatchIndices(Sampler):
    """Rows ``start`` to ``n`` in batches, each one index: a slice, or when shuffling this rank's
    part of a slice of one CPU ``torch.randperm`` per epoch (the same order on any device)."""

    def __init__(self, n: int, bs: int, shuffle: bool = False, generator=None, rank: int = 0,
                 world: int = 1, start: int = 0, device="cpu") -> None:
        if bs < 1 or not 0 <= rank < world:
            raise ValueError(f"batch size {bs}, rank {rank} of {world}: expected bs >= 1 and "
                             "0 <= rank < world")
        self.n, self.bs, self.start, self.shuffle = n, bs, start, shuffle
        self.generator, self.rank, self.world, self.device = generator, rank, world, device

    def __len__(self) -> int:
        return -(-(self.n - self.start) // self.bs)

    def __iter__(self):
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


def rank_slice(rows: int, rank: int, world: int) -> tuple[int, int]:
    """``(start, stop)`` of ``rank``'s part of ``rows`` rows: the first ``rows % world`` get one
    more, so parts differ by at most one row."""
    base, extra = divmod(rows, world)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)
