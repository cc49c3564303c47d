"""One training on several processes: torchrun starts the ranks, this module connects them once
they all train the same (compared through torchrun's store, before any gloo or nccl group). Each
rank takes an equal part of every batch, so the mean of their gradients (DDP's;
``average_gradient`` for ``scratch``) is the one-process gradient."""

import datetime
import itertools
import json
import os
from dataclasses import dataclass

import torch
from torch import nn

from mnist_pipeline.core.errors import PipelineError

TIMEOUT = datetime.timedelta(minutes=10)  # the first collective waits for imports and data
INPUTS_TIMEOUT = datetime.timedelta(minutes=2)  # every rank publishes within seconds of start


class DistributedError(PipelineError, RuntimeError):
    """The ranks cannot train together."""


@dataclass(frozen=True)
class Ranks:  # this process's place among the training's processes
    rank: int = 0
    world: int = 1
    local_rank: int = 0  # the rank within this node: picks the GPU

    @property
    def is_main(self) -> bool:  # rank 0 alone logs, checkpoints and writes the model
        return self.rank == 0

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:  # over all ranks, in place
        if self.world > 1:
            torch.distributed.all_reduce(tensor)
        return tensor

    def from_main(self, value):  # rank 0's value (any picklable object), on every rank
        if self.world == 1:
            return value
        box = [value]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]


_trainings = itertools.count()  # the trainings this process has compared with the others


def ranks_from_environment() -> Ranks:  # as torchrun describes them, or one alone
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Ranks()
    return Ranks(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def connect(ranks: Ranks, device: torch.device, inputs: dict, data, expected_world: int) -> None:
    """Join torchrun's process group once every rank has rank 0's ``inputs`` and ``data`` (a
    future digest) and torchrun's ranks are the ``expected_world`` params.yaml asks for."""
    if ranks.world == 1:
        return
    check_same_inputs(ranks.rank, exchange(ranks, {**inputs, "data": data.result()}))
    if ranks.world != expected_world:
        raise DistributedError(f"torchrun started {ranks.world} ranks, but train.nproc x "
                               f"train.nnodes is {expected_world}: start it with the --nnodes "
                               "and --nproc-per-node params.yaml sets")
    if not torch.distributed.is_initialized():  # else joined for an earlier training
        torch.distributed.init_process_group(
            "cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)


def exchange(ranks: Ranks, inputs: dict) -> list[dict]:
    """Every rank's ``inputs``, in rank order, through torchrun's store for its ranks."""
    store = torch.distributed.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]),
                                       is_master=False, timeout=INPUTS_TIMEOUT)
    # Keys per torchrun restart and per training (the ranks' trainings come in one order).
    prefix = f"inputs/{os.environ.get('TORCHELASTIC_RESTART_COUNT')}/{next(_trainings)}"
    store.set(f"{prefix}/{ranks.rank}", json.dumps(inputs, sort_keys=True))
    try:
        return [json.loads(store.get(f"{prefix}/{rank}")) for rank in range(ranks.world)]
    except torch.distributed.DistStoreError:
        raise DistributedError(f"rank {ranks.rank}: not every rank said what it trains within "
                               f"{INPUTS_TIMEOUT.seconds} s; another node failed first (its "
                               "message says why)") from None


def check_same_inputs(rank: int, everyone: list[dict]) -> None:
    """Fail on ``rank`` unless every rank's inputs are rank 0's, saying what differs."""
    first = everyone[0]
    differing = {other: [key for key in first if theirs.get(key) != first[key]]
                 for other, theirs in enumerate(everyone) if theirs != first}
    if rank in differing:
        raise DistributedError(
            f"rank {rank}: this node's {' and '.join(differing[rank])} differs from node 0's; "
            "check out the same commit on every node, `dvc pull data/tensors` and start the "
            "same model with the same params.yaml")
    if differing:
        raise DistributedError(f"rank {rank}: rank(s) {', '.join(map(str, differing))} run "
                               "another training than node 0 and refused to; their message "
                               "says why")


def disconnect() -> None:  # leave the process group, if any
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def parallel(model, ranks: Ranks):
    """``model`` whose gradients are averaged across the ranks; ``model`` itself with one."""
    if ranks.world == 1:
        return model
    if isinstance(model, nn.Module):
        device = next(model.parameters()).device
        return nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    for param in model.parameters():
        param.register_post_accumulate_grad_hook(
            lambda param: average_gradient(param.grad, ranks.world))
    return model


def average_gradient(grad: torch.Tensor, world: int, all_reduce=None) -> None:
    """``grad`` replaced by its mean over the ``world`` ranks (``all_reduce`` sums in place)."""
    (all_reduce or torch.distributed.all_reduce)(grad)
    grad.div_(world)
