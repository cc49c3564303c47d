"""``train.device`` as a torch device (``auto``: cuda, then mps, then cpu; a rank of several takes
its own GPU; an absent device is an error, never a fallback), and the fastest memory layout."""

import torch
from torch import nn

from mnist_pipeline.core.errors import PipelineError


class DeviceError(PipelineError, RuntimeError):
    """The configured device is not present here."""


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(setting: str, local_rank: int | None = None) -> torch.device:
    """The device ``setting`` names; a rank of several on CUDA gets ``cuda:<local_rank>``."""
    if setting == "auto":
        setting = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    device = torch.device(setting)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"train.device is {setting!r} but CUDA is not available here")
        if local_rank is not None:
            device = torch.device("cuda", local_rank)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"train.device is {setting!r}: cuda:{device.index} is asked for "
                              f"but only {torch.cuda.device_count()} CUDA device(s) are present")
        if local_rank is not None:
            torch.cuda.set_device(device)  # nccl's and DDP's default device for this rank
    if device.type == "mps" and not _mps_available():
        raise DeviceError(f"train.device is {setting!r} but MPS is not available here")
    return device


def fastest_layout(model, device: torch.device) -> None:
    """On the CPU, convolutions channels-last (oneDNN's are faster so): the same values."""
    if device.type == "cpu" and isinstance(model, nn.Module) and any(
            isinstance(layer, nn.Conv2d) for layer in model.modules()):
        model.to(memory_format=torch.channels_last)


def describe(device: torch.device) -> str:
    """The device as recorded on the model's card, e.g. ``cpu`` or ``cuda:0 (NVIDIA H100)``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return str(device)
