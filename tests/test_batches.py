"""In-memory batches have DataLoader's semantics: same batches for the same order, tail kept."""

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from mnist_pipeline.batches import TensorBatches, get_data, rank_slice


def test_unshuffled_batches_keep_order_and_the_partial_tail():
    x = torch.arange(10).float().unsqueeze(1)
    y = torch.arange(10)
    batches = list(TensorBatches(x, y, 4))
    assert [yb.tolist() for _, yb in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(TensorBatches(x, y, 4)) == 3


def test_shuffled_epoch_is_a_permutation_and_changes_between_epochs():
    y = torch.arange(100)
    batches = TensorBatches(y.float().unsqueeze(1), y, 32, shuffle=True,
                            generator=torch.Generator().manual_seed(0))
    first = torch.cat([yb for _, yb in batches])
    second = torch.cat([yb for _, yb in batches])
    assert sorted(first.tolist()) == list(range(100))
    assert sorted(second.tolist()) == list(range(100))
    assert not torch.equal(first, second)
    assert [len(yb) for _, yb in batches] == [32, 32, 32, 4]


def test_same_seed_gives_the_same_order():
    y = torch.arange(50)

    def order(seed):
        b = TensorBatches(y.unsqueeze(1), y, 8, shuffle=True,
                          generator=torch.Generator().manual_seed(seed))
        return torch.cat([yb for _, yb in b])

    assert torch.equal(order(3), order(3))
    assert not torch.equal(order(3), order(4))


def test_batches_equal_dataloader_batches_for_the_same_index_order():
    x = torch.rand(70, 784)
    y = torch.randint(0, 10, (70,))
    ours = TensorBatches(x, y, 16, shuffle=True, generator=torch.Generator().manual_seed(5))
    order = ours.order()  # what the next epoch will use, since the generator is re-seeded below
    ours.generator = torch.Generator().manual_seed(5)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, sampler=order.tolist())
    for (xa, ya), (xb, yb) in zip(ours, loader, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_get_data_uses_double_batch_size_for_validation():
    train = (torch.rand(10, 784), torch.arange(10))
    valid = (torch.rand(9, 784), torch.arange(9))
    train_dl, valid_dl = get_data(train, valid, 2)
    assert train_dl.shuffle and not valid_dl.shuffle
    assert [len(yb) for _, yb in valid_dl] == [4, 4, 1]


def test_ranks_split_every_global_batch_without_dropping_or_repeating():
    x = torch.arange(23).float().unsqueeze(1)
    y = torch.arange(23)

    def epoch(rank, world):
        batches = TensorBatches(x, y, 8, shuffle=True, generator=torch.Generator().manual_seed(1),
                                rank=rank, world=world)
        return [(yb.tolist(), batches.share) for _, yb in batches]

    whole = [rows for rows, _ in epoch(0, 1)]
    parts = [epoch(rank, 3) for rank in range(3)]
    # rank_slice gives 8 rows as 3/3/2 and the last 7 as 3/2/2: 8 / 3 is uneven on purpose.
    for step, rows in enumerate(whole):
        assert sum((parts[r][step][0] for r in range(3)), []) == rows
        shares = [parts[r][step][1] for r in range(3)]
        assert sum(shares) == pytest.approx(1)
        assert shares == [len(parts[r][step][0]) / len(rows) for r in range(3)]


def test_every_rank_takes_a_last_batch_smaller_than_the_ranks_at_a_share_of_it():
    y = torch.arange(5)
    batches = TensorBatches(y.unsqueeze(1), y, 4, rank=1, world=2)
    assert [(yb.tolist(), batches.share, batches.rows) for _, yb in batches] == [
        ([2, 3], 0.5, 4), ([4], 0.5, 1)]


def test_validation_ranks_take_contiguous_parts_of_the_split():
    train = (torch.rand(8, 1), torch.arange(8))
    valid = (torch.rand(7, 1), torch.arange(7))
    parts = [[yb.tolist() for _, yb in get_data(train, valid, 2, rank=r, world=2)[1]]
             for r in range(2)]
    assert parts == [[[0, 1, 2, 3]], [[4, 5, 6]]]


def test_rank_slice_is_as_even_as_possible():
    assert [rank_slice(7, r, 3) for r in range(3)] == [(0, 3), (3, 5), (5, 7)]
    assert [rank_slice(64, r, 2) for r in range(2)] == [(0, 32), (32, 64)]
