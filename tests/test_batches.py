"""The train stage's batches: the tutorial's get_data on DataLoader, each batch drawn at once."""

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from mnist_pipeline.train.batches import BatchIndices, get_batches, rank_slice
from mnist_pipeline.tutorial.data import WrappedDataLoader, get_data, preprocess


def dataset(n, width=1):
    return TensorDataset(torch.arange(n * width).float().reshape(n, width), torch.arange(n))


def labels(dl):
    return [yb.tolist() for _, yb in dl]


def test_validation_batches_keep_order_and_the_partial_tail_at_twice_the_batch_size():
    train_dl, valid_dl = get_batches(dataset(10), dataset(9), 2)
    assert labels(valid_dl) == [[0, 1, 2, 3], [4, 5, 6, 7], [8]]
    assert len(valid_dl) == 3 and len(train_dl) == 5
    assert train_dl.sampler.shuffle and not valid_dl.sampler.shuffle


def test_a_shuffled_epoch_is_a_permutation_and_changes_between_epochs():
    train_dl, _ = get_batches(dataset(100), dataset(1), 32, torch.Generator().manual_seed(0))
    first, second = (torch.cat([yb for _, yb in train_dl]) for _ in range(2))
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(100))
    assert not torch.equal(first, second)
    assert [len(yb) for _, yb in train_dl] == [32, 32, 32, 4]


def test_each_epoch_is_one_randperm_of_the_generator_so_a_seed_fixes_the_order():
    def epochs(seed, count=2):
        train_dl, _ = get_batches(dataset(50), dataset(1), 8, torch.Generator().manual_seed(seed))
        return [torch.cat([yb for _, yb in train_dl]) for _ in range(count)]

    reference = torch.Generator().manual_seed(3)
    expected = [torch.randperm(50, generator=reference) for _ in range(2)]
    assert all(torch.equal(a, b) for a, b in zip(epochs(3), expected, strict=True))
    assert not torch.equal(epochs(3)[0], epochs(4)[0])


def test_batches_equal_dataloaders_per_sample_batches_for_the_same_index_order():
    ds = TensorDataset(torch.rand(70, 784), torch.randint(0, 10, (70,)))
    train_dl, _ = get_batches(ds, ds, 16, torch.Generator().manual_seed(5))
    order = torch.randperm(70, generator=torch.Generator().manual_seed(5))
    per_sample = DataLoader(ds, batch_size=16, sampler=order.tolist())
    for (xa, ya), (xb, yb) in zip(train_dl, per_sample, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_ranks_split_every_global_batch_evenly_and_take_an_uneven_tail_whole():
    # 23 rows in batches of 6 for 3 ranks: three batches of 6 split 2/2/2, a tail of 5 that
    # does not split evenly, which every rank takes whole: no row dropped or counted twice.
    def epoch(rank, world):
        train_dl, _ = get_batches(dataset(23), dataset(1), 6, torch.Generator().manual_seed(1),
                               rank, world)
        return labels(train_dl)

    whole = epoch(0, 1)
    parts = [epoch(rank, 3) for rank in range(3)]
    for step, rows in enumerate(whole[:-1]):
        assert [len(parts[r][step]) for r in range(3)] == [2, 2, 2]
        assert sum((parts[r][step] for r in range(3)), []) == rows
    assert len(whole[-1]) == 5 and all(parts[r][-1] == whole[-1] for r in range(3))


def test_a_tail_smaller_than_the_ranks_is_taken_whole_by_every_rank():
    def epoch(rank, world):
        return [batch.tolist() for batch in BatchIndices(
            5, 4, shuffle=True, generator=torch.Generator().manual_seed(0), rank=rank,
            world=world)]

    (first, tail), parts = epoch(0, 1), [epoch(rank, 2) for rank in range(2)]
    assert parts[0][0] + parts[1][0] == first and len(parts[0][0]) == 2
    assert parts[0][1] == parts[1][1] == tail and len(tail) == 1


def test_validation_ranks_take_contiguous_parts_of_the_split():
    parts = [labels(get_batches(dataset(8), dataset(7), 2, rank=r, world=2)[1]) for r in range(2)]
    assert parts == [[[0, 1, 2, 3]], [[4, 5, 6]]]


def test_rank_slice_is_as_even_as_possible():
    assert [rank_slice(7, r, 3) for r in range(3)] == [(0, 3), (3, 5), (5, 7)]
    assert [rank_slice(64, r, 2) for r in range(2)] == [(0, 32), (32, 64)]


def test_a_bad_batch_size_or_rank_is_refused():
    with pytest.raises(ValueError, match="batch size 0"):
        BatchIndices(10, 0)
    with pytest.raises(ValueError, match="rank 2 of 2"):
        BatchIndices(10, 2, rank=2, world=2)


def test_wrapped_data_loader_reshapes_like_the_tutorials_preprocess():
    _, valid_dl = get_batches(dataset(1, 784), dataset(10, 784), 2)
    wrapped = WrappedDataLoader(valid_dl, preprocess)
    assert len(wrapped) == 3
    assert [xb.shape for xb, _ in wrapped] == [(4, 1, 28, 28), (4, 1, 28, 28), (2, 1, 28, 28)]


def test_the_tutorials_own_get_data_gives_the_same_batch_sizes_one_sample_at_a_time():
    train_dl, valid_dl = get_data(dataset(10), dataset(9), 2)
    assert [len(yb) for _, yb in valid_dl] == [4, 4, 1]
    assert sorted(torch.cat([yb for _, yb in train_dl]).tolist()) == list(range(10))
    fast_train, fast_valid = get_batches(dataset(10), dataset(9), 2)
    assert len(train_dl) == len(fast_train) and labels(valid_dl) == labels(fast_valid)
