"""One training on several processes: torchrun starts the ranks, this module connects them.

Before any process group is made (its backend follows the device: gloo on the CPU, nccl on
CUDA), every rank publishes what it would train with in torchrun's own store and compares it
with everyone's: a node with other code, data, params or device refuses in one line, and every
other rank stops in one line too, never waiting on a peer that will not come. Every rank then
takes an equal part of each batch (see ``train.batches``), so the average of their gradients is
the one-process gradient: DDP averages them for ``nn.Module`` models, ``scratch`` in plain
sight below.
"""

import datetime
import itertools
import json
import os
from concurrent.futures import Future
from dataclasses import dataclass

import torch
from torch import nn

from mnist_pipeline.core.errors import PipelineError

# How long a rank waits for the others: the first collective waits for their imports and data.
TIMEOUT = datetime.timedelta(minutes=10)
# How long a rank waits for every rank's inputs: they are published within seconds of a start.
INPUTS_TIMEOUT = datetime.timedelta(minutes=2)


class DistributedError(PipelineError, RuntimeError):
    """The ranks cannot train together: another node's inputs differ, or torchrun's ranks are
    not the ones params.yaml asks for."""


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training's processes."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0  # the rank within this node: picks the GPU

    @property
    def is_main(self) -> bool:  # rank 0 alone logs, checkpoints and writes the model
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


SINGLE = Ranks()  # one process: the default everywhere
_trainings = itertools.count()  # the trainings this process's ranks have compared


def ranks_from_environment() -> Ranks:
    """The ranks torchrun describes in ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; one without it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return SINGLE
    return Ranks(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def connect(ranks: Ranks, device: torch.device, inputs: dict, data: Future[str],
            expected_world: int) -> None:
    """Join the process group torchrun prepared (nccl for CUDA tensors, gloo for CPU ones: the
    monitor's sums, the checkpoint's broadcast), once every rank trains with rank 0's
    ``inputs`` and ``data`` (the tensor files' digest, being hashed) and torchrun started the
    ``expected_world`` ranks params.yaml asks for (train.nproc x train.nnodes). Nothing to
    join with one rank."""
    if ranks.world == 1:
        return
    check_same_inputs(ranks.rank, exchange(ranks, {**inputs, "data": data.result()}))
    if ranks.world != expected_world:
        raise DistributedError(f"torchrun started {ranks.world} ranks, but train.nproc x "
                               f"train.nnodes is {expected_world}: start it with the --nnodes "
                               "and --nproc-per-node params.yaml sets")
    if not torch.distributed.is_initialized():  # another training in the same processes
        torch.distributed.init_process_group(
            "cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)


def exchange(ranks: Ranks, inputs: dict) -> list[dict]:
    """Every rank's ``inputs``, in rank order, through the store torchrun's agent keeps for its
    ranks (``MASTER_ADDR``:``MASTER_PORT``): no process group needed."""
    store = torch.distributed.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]),
                                       is_master=False, timeout=INPUTS_TIMEOUT)
    # Keys of their own for each torchrun restart and each training in these processes (the
    # ranks run the same script: their trainings come in the same order), whatever they train.
    prefix = f"inputs/{os.environ.get('TORCHELASTIC_RESTART_COUNT')}/{next(_trainings)}"
    store.set(f"{prefix}/{ranks.rank}", json.dumps(inputs, sort_keys=True))
    try:
        return [json.loads(store.get(f"{prefix}/{rank}")) for rank in range(ranks.world)]
    except torch.distributed.DistStoreError:
        raise DistributedError(
            f"rank {ranks.rank}: not every rank said what it trains within "
            f"{INPUTS_TIMEOUT.seconds} s; another node failed first (its message says why)"
        ) from None


def check_same_inputs(rank: int, everyone: list[dict]) -> None:
    """Fail on ``rank`` unless ``everyone``'s inputs (code, data, run settings, device) are
    rank 0's: the rank that differs says what, the others say that it refused."""
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


def disconnect() -> None:
    """Leave the process group this rank joined, if any."""
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
