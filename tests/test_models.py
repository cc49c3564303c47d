"""The model registry, each variant's shape, and the tutorial's 'it does the same thing' claims."""

import pytest
import torch
import torch.nn.functional as F
import yaml

from mnist_pipeline.batches import TensorBatches
from mnist_pipeline.models import (
    VARIANTS,
    ManualSGD,
    Mnist_Logistic,
    ScratchLogistic,
    build_model,
    get_model,
    log_softmax,
    nll,
    variant,
)
from mnist_pipeline.registry import VARIANT_NAMES
from mnist_pipeline.training import fit

from conftest import ROOT


def test_registry_params_and_pipeline_list_the_same_models():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    assert tuple(VARIANTS) == VARIANT_NAMES
    assert tuple(params["models"]) == VARIANT_NAMES
    for stage in ("train", "evaluate"):
        assert tuple(dvc["stages"][stage]["matrix"]["model"]) == VARIANT_NAMES


def test_unknown_variant_lists_the_valid_ones():
    with pytest.raises(KeyError, match="scratch, logistic, cnn, sequential, adaptive"):
        variant("vgg")


@pytest.mark.parametrize("name", VARIANT_NAMES)
def test_every_variant_maps_a_batch_to_ten_scores(name):
    torch.manual_seed(0)
    model = build_model(name)
    xb = torch.rand(5, 784)
    yb = torch.arange(5)
    preprocess = VARIANTS[name].preprocess
    if preprocess is not None:
        xb, yb = preprocess(xb, yb)
    out = model(xb)
    assert out.shape == (5, 10)
    assert torch.isfinite(VARIANTS[name].loss_func(out, yb))


def test_handwritten_log_softmax_and_nll_match_torch():
    x = torch.randn(8, 10)
    y = torch.randint(0, 10, (8,))
    torch.testing.assert_close(log_softmax(x), F.log_softmax(x, dim=-1))
    torch.testing.assert_close(nll(log_softmax(x), y), F.cross_entropy(x, y))


def test_scratch_init_is_xavier_scaled_and_bias_zero():
    torch.manual_seed(0)
    model = ScratchLogistic()
    assert model.weights.requires_grad and model.weights.grad_fn is None
    assert abs(model.weights.std().item() - 1 / 28) < 0.003
    assert torch.count_nonzero(model.bias) == 0


def test_the_three_cnns_compute_the_same_function():
    # The tutorial's Sequential and adaptive refactors "do the same thing" as Mnist_CNN: with
    # the same seed they get the same weights and give the same outputs on 28x28 images.
    xb = torch.rand(6, 784)
    outputs = {}
    for name in ("cnn", "sequential", "adaptive"):
        torch.manual_seed(3)
        model = build_model(name)
        x = VARIANTS[name].preprocess(xb, None)[0] if VARIANTS[name].preprocess else xb
        outputs[name] = model(x)
    torch.testing.assert_close(outputs["cnn"], outputs["sequential"])
    torch.testing.assert_close(outputs["cnn"], outputs["adaptive"])


def test_adaptive_cnn_takes_any_image_size():
    model = build_model("adaptive")
    assert model(torch.rand(2, 1, 40, 36)).shape == (2, 10)


def test_optimizers_follow_the_tutorial():
    model, opt = get_model("scratch", lr=0.5, momentum=0.0)
    assert isinstance(opt, ManualSGD) and opt.lr == 0.5
    model, opt = get_model("cnn", lr=0.1, momentum=0.9)
    assert isinstance(opt, torch.optim.SGD)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["momentum"] == 0.9


def test_scratch_and_logistic_end_with_the_same_weights(tiny_splits):
    # The tutorial's claim for each refactor: nn.Linear + optim.SGD + F.cross_entropy do what
    # the hand-made weights, log_softmax/nll and the manual update did.
    x = torch.from_numpy(tiny_splits["train"].x)
    y = torch.from_numpy(tiny_splits["train"].y)
    valid = (torch.from_numpy(tiny_splits["valid"].x), torch.from_numpy(tiny_splits["valid"].y))
    torch.manual_seed(0)
    scratch = ScratchLogistic()
    logistic = Mnist_Logistic()
    with torch.no_grad():
        logistic.lin.weight.copy_(scratch.weights.T)
        logistic.lin.bias.copy_(scratch.bias)
    initial = scratch.weights.detach().clone()
    for model, opt, loss_func in [
        (scratch, ManualSGD(scratch.parameters(), lr=0.5), nll),
        (logistic, torch.optim.SGD(logistic.parameters(), lr=0.5), F.cross_entropy),
    ]:
        train_dl = TensorBatches(x, y, 64, shuffle=True, generator=torch.Generator().manual_seed(7))
        fit(2, model, loss_func, opt, train_dl, TensorBatches(*valid, 128))
    assert (scratch.weights - initial).abs().max() > 0.01  # training moved the weights
    torch.testing.assert_close(logistic.lin.weight.T, scratch.weights, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(logistic.lin.bias, scratch.bias, rtol=1e-4, atol=1e-5)


def test_wrapped_batches_reshape_like_the_tutorials_preprocess():
    batches = VARIANTS["adaptive"].loader(TensorBatches(torch.rand(10, 784), torch.arange(10), 4))
    assert VARIANTS["cnn"].loader(batches) is batches  # variants without a transform: as is
    shapes = [xb.shape for xb, _ in batches]
    assert len(batches) == 3
    assert shapes == [(4, 1, 28, 28), (4, 1, 28, 28), (2, 1, 28, 28)]
