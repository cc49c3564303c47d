"""train.device as a torch device, and the memory layout a model runs in there."""

import pytest
import torch

from mnist_pipeline.train.devices import DeviceError, fastest_layout, resolve_device
from mnist_pipeline.variants import get_model


def test_auto_device_falls_back_to_cpu_and_explicit_missing_device_fails(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("mnist_pipeline.train.devices._mps_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(DeviceError, match="'cuda' but CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(DeviceError, match="'cuda:1'"):
        resolve_device("cuda:1")
    with pytest.raises(DeviceError, match="MPS is not available"):
        resolve_device("mps")


def test_auto_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr("mnist_pipeline.train.devices._mps_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_convolutions_run_channels_last_on_the_cpu_with_the_optimizers_own_parameters():
    model, opt = get_model("cnn", 0.1, 0.9)
    fastest_layout(model, torch.device("cpu"))
    weight = model.conv2.weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    assert any(p is weight for p in opt.param_groups[0]["params"])
    linear, _ = get_model("logistic", 0.5, 0.0)
    fastest_layout(linear, torch.device("cpu"))
    assert linear.lin.weight.is_contiguous()
