"""The several-rank logic, fast, with fake two-rank groups: each step's weight, the gradients'
average, the monitor's sums, and the ranks' comparison of what they train (over a real
TCPStore, as under torchrun). The end-to-end runs with torchrun are tests/test_distributed.py."""

import itertools
import threading
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from mnist_pipeline.train import ranks as ranks_module
from mnist_pipeline.train.batches import get_batches, predict
from mnist_pipeline.train.monitor import Monitor, batch_rows
from mnist_pipeline.train.ranks import (
    DistributedError,
    Ranks,
    average_gradient,
    check_same_inputs,
    exchange,
)
from mnist_pipeline.variants import get_model


def test_each_step_weighs_as_its_whole_batch_the_last_one_as_what_is_left():
    assert [batch_rows(step, 32, 100) for step in (1, 2, 3, 4)] == [32, 32, 32, 4]
    assert [batch_rows(step, 50, 100) for step in (1, 2)] == [50, 50]


def test_the_ranks_gradients_are_averaged_not_summed():
    grads = [torch.tensor([1.0, 4.0]), torch.tensor([3.0, 0.0])]

    def all_reduce(tensor):  # what the other rank contributes, summed in place
        tensor += grads[1]

    mine = grads[0].clone()
    average_gradient(mine, 2, all_reduce)
    assert torch.equal(mine, torch.tensor([2.0, 2.0]))


class FakeGroup:
    """all_reduce between two threads, each one rank."""

    def __init__(self) -> None:
        self.barrier, self.slots = threading.Barrier(2, timeout=30), [None, None]

    def sum_(self, rank: int, tensor: torch.Tensor) -> torch.Tensor:
        self.slots[rank] = tensor.clone()
        self.barrier.wait()
        total = self.slots[0] + self.slots[1]
        self.barrier.wait()
        return tensor.copy_(total)


@dataclass(frozen=True)
class FakeRanks(Ranks):
    group: FakeGroup | None = None

    def sum_(self, tensor):
        return self.group.sum_(self.rank, tensor)


def test_two_ranks_epoch_numbers_are_the_one_process_ones(tiny_splits):
    # 97 rows in batches of 32: three of 32 split in halves, a last one of 1 that each rank takes
    # whole. Each rank's loss is its part's mean; halves' means average to the whole batch's,
    # and the copies weigh as the one row they are, not as much as a half.
    whole = [2.0, 1.5, 1.25, 3.0]
    spread = [0.5, -0.25, 0.125, 0.0]
    rows = [32, 32, 32, 1]
    torch.manual_seed(0)
    model, _ = get_model("logistic", 0.5, 0.0)
    valid = TensorDataset(*(torch.from_numpy(getattr(tiny_splits["valid"], k)) for k in "xy"))

    def epoch(monitor, losses, nums, valid_dl):
        for loss, num in zip(losses, nums, strict=True):
            monitor.after_batch(loss, num)
        monitor.after_epoch(0, F.cross_entropy(*predict(model, valid_dl)).item())
        return monitor.history[-1]

    one = epoch(Monitor(model, get_batches(valid, valid, 32)[1]), whole, rows,
                get_batches(valid, valid, 32)[1])
    group, results = FakeGroup(), [None, None]

    def rank(r: int) -> None:
        ranks = FakeRanks(r, 2, group=group)
        valid_dl = get_batches(valid, valid, 32, rank=r, world=2)[1]
        monitor = Monitor(model, valid_dl, ranks, rows_of=lambda step: batch_rows(step, 32, 97))
        sign = 1 if r == 0 else -1
        results[r] = epoch(monitor, [w + sign * s for w, s in zip(whole, spread, strict=True)],
                           [16, 16, 16, 1], valid_dl)

    threads = [threading.Thread(target=rank, args=(r,)) for r in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results[0] == results[1]
    assert results[0].train_loss == pytest.approx(one.train_loss, abs=1e-12)
    assert results[0].valid_loss == pytest.approx(one.valid_loss, abs=1e-6)
    assert results[0].valid_accuracy == one.valid_accuracy


INPUTS = {"run": {"model": "logistic", "lr": 0.5, "nnodes": 2}, "code": "c1", "data": "d1",
          "device": "cpu"}


def test_the_same_inputs_everywhere_pass():
    check_same_inputs(0, [INPUTS, dict(INPUTS)])


@pytest.mark.parametrize(("key", "other"), [
    ("data", "d2"), ("code", "c2"), ("device", "cuda"),
    ("run", {**INPUTS["run"], "model": "scratch"}), ("run", {**INPUTS["run"], "nnodes": 1})])
def test_a_node_that_differs_says_what_and_every_other_rank_stops_too(key, other):
    everyone = [INPUTS, INPUTS, {**INPUTS, key: other}]  # rank 2 is on another node
    with pytest.raises(DistributedError, match=f"^rank 2: this node's {key} differs from node "
                                               "0's; check out the same commit"):
        check_same_inputs(2, everyone)
    for rank in (0, 1):
        with pytest.raises(DistributedError, match=f"^rank {rank}: rank\\(s\\) 2 run another "
                                                   "training than node 0 and refused to"):
            check_same_inputs(rank, everyone)


@pytest.fixture
def store(monkeypatch):
    """A TCPStore on 127.0.0.1 as torchrun's agent keeps one, and its address for the ranks."""
    server = torch.distributed.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(server.port))
    return server


def test_the_ranks_exchange_what_they_train_through_torchruns_store(store, monkeypatch):
    # Two threads stand for two processes, each at its first training.
    monkeypatch.setattr(ranks_module, "_trainings", itertools.repeat(0))
    seen = [None, None]

    def rank(r: int) -> None:
        seen[r] = exchange(Ranks(r, 2), {**INPUTS, "data": f"d{r}"})

    threads = [threading.Thread(target=rank, args=(r,)) for r in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen[0] == seen[1] == [{**INPUTS, "data": "d0"}, {**INPUTS, "data": "d1"}]
    with pytest.raises(DistributedError, match="rank 1: this node's data differs"):
        check_same_inputs(1, seen[1])


def test_a_rank_whose_peer_never_says_what_it_trains_stops_in_one_line(store, monkeypatch):
    import datetime

    monkeypatch.setattr(ranks_module, "INPUTS_TIMEOUT", datetime.timedelta(seconds=1))
    with pytest.raises(DistributedError, match="^rank 0: not every rank said what it trains "
                                               "within 1 s"):
        exchange(Ranks(0, 2), INPUTS)


def test_the_data_digest_is_compared_before_any_process_group_is_made(monkeypatch):
    from concurrent.futures import Future

    published = {}

    def another_node_has_other_data(ranks, inputs):
        published.update(inputs)
        return [inputs, {**inputs, "data": "other"}]

    monkeypatch.setattr(ranks_module, "exchange", another_node_has_other_data)
    digest = Future()
    digest.set_result("d1")
    with pytest.raises(DistributedError, match=r"^rank 0: rank\(s\) 1 run another training"):
        ranks_module.connect(Ranks(0, 2), torch.device("cpu"), {"code": "c1"}, digest, 2)
    assert published == {"code": "c1", "data": "d1"}
    assert not torch.distributed.is_initialized()


def test_what_makes_a_model_tells_every_model_and_setting_apart():
    from mnist_pipeline.core.params import load_params
    from mnist_pipeline.train.training import run_settings

    from conftest import ROOT

    params = load_params(ROOT / "params.yaml")
    settings = {name: run_settings(name, params) for name in params.models}
    assert len({str(sorted(s.items())) for s in settings.values()}) == len(params.models)
    other = params.model_copy(update={"train": params.train.model_copy(update={"nnodes": 2})})
    assert run_settings("cnn", other) != settings["cnn"]


def test_torchrun_with_other_ranks_than_params_yaml_asks_for_is_refused(monkeypatch):
    from concurrent.futures import Future

    monkeypatch.setattr(ranks_module, "exchange", lambda ranks, inputs: [inputs] * ranks.world)
    digest = Future()
    digest.set_result("d1")
    with pytest.raises(DistributedError, match="^torchrun started 3 ranks, but train.nproc x "
                                               "train.nnodes is 2: start it with the --nnodes"):
        ranks_module.connect(Ranks(1, 3), torch.device("cpu"), {"code": "c1"}, digest, 2)
    assert not torch.distributed.is_initialized()
