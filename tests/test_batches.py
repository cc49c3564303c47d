"""In-memory batches have DataLoader's semantics: same batches for the same order, tail kept."""

import torch
from torch.utils.data import DataLoader, TensorDataset

from mnist_pipeline.batches import TensorBatches, get_data


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
