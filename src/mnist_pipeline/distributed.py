"""One training on several processes: torchrun starts the ranks, this module connects them.

``train.nproc`` ranks per node (``train.nnodes`` nodes) run the same train stage under
``torchrun`` (``torch.distributed.run``): gloo on the CPU, nccl on CUDA with one GPU per rank.
``train.bs`` stays the global batch; each rank takes its slice of every batch (see ``batches``)
and the gradients are summed across ranks, each weighted by its rank's share of the batch, so
every step is the one-process step up to the order of float additions:

* ``nn.Module`` variants are wrapped in ``DistributedDataParallel`` with a communication hook
  that applies those weights (DDP's default divides by the number of ranks, which is the same
  whenever shares are equal, and wrong for an uneven last batch);
* ``scratch``, no ``nn.Module``, does the same by hand in its update (``ManualSGD``).

With one rank (``Ranks()``), nothing here communicates and the results are those of a plain
single-process run, bit for bit.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch

from mnist_pipeline.errors import PipelineError

# How long a rank waits for the others (rendezvous, collectives) before failing; generous,
# since the first collective waits for every rank's imports and data loading.
TIMEOUT = datetime.timedelta(minutes=10)


class DistributedError(PipelineError, RuntimeError):
    """The ranks cannot run as configured (too few GPUs, bad batch split, ...)."""


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training's processes."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0  # the rank within this node: picks the GPU

    @property
    def is_main(self) -> bool:
        """Rank 0 alone logs, checkpoints and writes the model."""
        return self.rank == 0

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` summed over all ranks, in place; untouched with one rank."""
        if self.world > 1:
            torch.distributed.all_reduce(tensor)
        return tensor

    def from_main(self, value):
        """Rank 0's ``value``, on every rank (any picklable object)."""
        if self.world == 1:
            return value
        box = [value]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def weighted_sum_(self, tensors: list[torch.Tensor], share: float) -> None:
        """Replace each of this rank's gradients by the share-weighted sum over all ranks."""
        for tensor in tensors:
            tensor.mul_(share)
            torch.distributed.all_reduce(tensor)


SINGLE = Ranks()  # one process: the default everywhere


def ranks_from_environment() -> Ranks:
    """The ranks torchrun describes in ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; one without it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return SINGLE
    return Ranks(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def rank_device(ranks: Ranks, device: torch.device) -> torch.device:
    """The device of this rank: its own GPU (``cuda:<local rank>``) on CUDA."""
    if ranks.world == 1 or device.type != "cuda":
        return device
    count = torch.cuda.device_count()
    if ranks.local_rank >= count:
        raise DistributedError(
            f"train.nproc asks for {ranks.local_rank + 1}+ ranks on this node but it has "
            f"{count} CUDA device(s): one GPU per rank"
        )
    return torch.device("cuda", ranks.local_rank)


def connect(ranks: Ranks, device: torch.device) -> None:
    """Join the process group torchrun prepared: nccl on CUDA, gloo on the CPU."""
    if ranks.world == 1 or torch.distributed.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.distributed.init_process_group(backend, timeout=TIMEOUT)


def disconnect(ranks: Ranks) -> None:
    if ranks.world > 1 and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def same_inputs_everywhere(ranks: Ranks, code: str, data) -> None:
    """Fail unless every node runs node 0's code on node 0's data (their SHA-256 digests).

    Each node's first rank compares its own digests with rank 0's: a node with another commit
    or stale tensor files would otherwise train on different inputs, silently.
    """
    mine = (code, data.value()) if data is not None else None
    theirs = ranks.from_main(mine)
    if mine is not None and mine != theirs:
        what = "code" if mine[0] != theirs[0] else "data/tensors"
        raise DistributedError(
            f"rank {ranks.rank}: this node's {what} differs from node 0's; check out the same "
            "commit on every node and `dvc pull data/tensors`"
        )


def data_parallel(model, ranks: Ranks, batches):
    """``model`` wrapped in DDP whose gradient sum is weighted by ``batches.share``."""
    from torch.nn.parallel import DistributedDataParallel

    ddp = DistributedDataParallel(model)
    ddp.register_comm_hook(batches, _weighted_allreduce)
    return ddp


def _weighted_allreduce(batches, bucket):
    buffer = bucket.buffer()
    buffer.mul_(batches.share)
    work = torch.distributed.all_reduce(buffer, async_op=True)
    return work.get_future().then(lambda future: future.value()[0])


def unwrap(model):
    """The model inside a DDP wrapper (what is saved and evaluated), or ``model`` itself."""
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model
