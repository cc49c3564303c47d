"""``train.device`` as a torch device (``auto``: cuda, then mps, then cpu), and the memory
layout and allocations a model runs fastest with there. An absent device is an error, never a
silent fallback.
"""

import ctypes

import torch
from torch import nn

from mnist_pipeline.core.errors import PipelineError


class DeviceError(PipelineError, RuntimeError):
    """The configured device is not present on this machine."""


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def resolve_device(setting: str) -> torch.device:
    if setting == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    device = torch.device(setting)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"train.device is {setting!r} but CUDA is not available here")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"train.device is {setting!r} but only "
                              f"{torch.cuda.device_count()} CUDA device(s) are present")
    if device.type == "mps" and not _mps_available():
        raise DeviceError(f"train.device is {setting!r} but MPS is not available here")
    return device


def fastest_layout(model, device: torch.device) -> None:
    """On the CPU, convolutions in channels-last layout (oneDNN's run faster in it): the
    same parameter objects and values, only laid out otherwise in memory."""
    if device.type == "cpu" and isinstance(model, nn.Module) and any(
            isinstance(layer, nn.Conv2d) for layer in model.modules()):
        model.to(memory_format=torch.channels_last)


# glibc's mallopt parameters (malloc.h), and what the training keeps of freed memory.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MAPPED_FROM, KEPT = 32 << 20, 64 << 20


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep freed memory for the next batch; False where there is no glibc.

    By default it maps every block of 128 kB or more afresh and hands back a free heap top of
    more than 128 kB, so a CNN's activations (hundreds of kB a batch on the CPU) fault their
    pages in again at every step. glibc raises both limits by itself once a process frees a
    large mapped block, which a training may or may not happen to do first; this sets them.
    No library does it (jemalloc or tcmalloc would, preloaded), hence ctypes."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)  # this process's C library
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MAPPED_FROM) and mallopt(M_TRIM_THRESHOLD, KEPT))


def describe(device: torch.device) -> str:
    """The device as recorded with the metrics, e.g. ``cpu`` or ``cuda:0 (NVIDIA H100)``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return str(device)
