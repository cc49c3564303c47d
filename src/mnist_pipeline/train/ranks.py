"""One training on several processes: torchrun starts the ranks, this module connects them.

Gloo on the CPU, nccl on CUDA (one GPU per rank). Every rank takes an equal part of each batch
(see ``train.batches``), so the average of their gradients is the one-process gradient: DDP
averages them for ``nn.Module`` models, and ``scratch`` in plain sight below.
"""

import datetime
import os
from dataclasses import dataclass

import torch
from torch import nn

from mnist_pipeline.core.errors import PipelineError

# How long a rank waits for the others: the first collective waits for their imports and data.
TIMEOUT = datetime.timedelta(minutes=10)


class DistributedError(PipelineError, RuntimeError):
    """A node runs other code or data than node 0."""


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


def ranks_from_environment() -> Ranks:
    """The ranks torchrun describes in ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; one without it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return SINGLE
    return Ranks(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def connect(ranks: Ranks, device: torch.device) -> torch.device:
    """This rank's device (its own GPU, ``cuda:<local rank>``, on CUDA), its process group
    joined: the one torchrun prepared, nccl for CUDA tensors, gloo for CPU ones (the
    monitor's sums and the checkpoint's broadcast)."""
    if ranks.world == 1 or torch.distributed.is_initialized():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", ranks.local_rank)  # launch checked: one GPU per rank
        torch.cuda.set_device(device)
    torch.distributed.init_process_group("cpu:gloo,cuda:nccl" if device.type == "cuda"
                                         else "gloo", timeout=TIMEOUT)
    return device


def disconnect() -> None:
    """Leave the process group this rank joined, if any."""
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def same_inputs_everywhere(ranks: Ranks, code: str, data, run: tuple) -> None:
    """Fail unless every node trains node 0's model with node 0's params (``run``) and code on
    node 0's data (their SHA-256 digests): a node with another commit, model or params.yaml, or
    stale tensor files would otherwise train on other inputs."""
    mine = (code, data.result(), run) if data is not None else None
    theirs = ranks.from_main(mine)
    differs = mine is not None and mine != theirs
    # Every rank learns how many nodes refuse, so that all stop here with a message, not with a
    # broken connection at their next collective.
    refusing = int(ranks.sum_(torch.tensor([int(differs)])).item())
    if differs:
        what = ("code" if mine[0] != theirs[0] else "data/tensors" if mine[1] != theirs[1]
                else "model or its params")
        raise DistributedError(f"rank {ranks.rank}: this node's {what} differs from node 0's; "
                               "check out the same commit on every node, `dvc pull "
                               "data/tensors` and start the same model")
    if refusing:
        raise DistributedError(f"rank {ranks.rank}: {refusing} node(s) run other code, data "
                               "or model than node 0 and refused to train; their message says "
                               "which")


def parallel(model, ranks: Ranks):
    """``model`` whose gradients are averaged across the ranks; ``model`` itself with one."""
    if ranks.world == 1:
        return model
    if isinstance(model, nn.Module):
        device = next(model.parameters()).device
        return nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)

    def average(param: torch.Tensor) -> None:
        torch.distributed.all_reduce(param.grad)
        param.grad.div_(ranks.world)

    for param in model.parameters():
        param.register_post_accumulate_grad_hook(average)
    return model

