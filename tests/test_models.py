"""Every model of the tutorial, and its 'it does the same thing' claims between sections."""

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from mnist_pipeline.tutorial.data import get_data
from mnist_pipeline.tutorial.fit import fit
from mnist_pipeline.tutorial.models import Mnist_Logistic
from mnist_pipeline.tutorial.scratch import ManualSGD, Scratch, accuracy, log_softmax, nll
from mnist_pipeline.variants import VARIANTS, UnknownModelError, get_model

from conftest import MODEL_NAMES


def test_an_unknown_model_lists_the_valid_ones():
    with pytest.raises(UnknownModelError, match="scratch, logistic, cnn, sequential, adaptive"):
        get_model("vgg", 0.1, 0.0)
    with pytest.raises(UnknownModelError, match="models.cnnn: unknown model; did you mean 'cnn'"):
        get_model("cnnn", 0.1, 0.0)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_maps_a_batch_to_ten_scores(name):
    torch.manual_seed(0)
    model = VARIANTS[name].model()
    xb, yb = torch.rand(5, 784), torch.arange(5)
    if VARIANTS[name].reshape_batches is not None:
        xb, yb = VARIANTS[name].reshape_batches(xb, yb)
    out = model(xb)
    assert out.shape == (5, 10)
    assert torch.isfinite(VARIANTS[name].loss_func(out, yb))


def test_handwritten_log_softmax_nll_and_accuracy_match_torch():
    x = torch.randn(8, 10)
    y = torch.randint(0, 10, (8,))
    torch.testing.assert_close(log_softmax(x), F.log_softmax(x, dim=-1))
    torch.testing.assert_close(nll(log_softmax(x), y), F.cross_entropy(x, y))
    assert accuracy(torch.eye(10)[[1, 2, 3, 0]], torch.tensor([1, 2, 0, 0])) == 0.75


def test_scratch_init_is_xavier_scaled_and_bias_zero():
    torch.manual_seed(0)
    model = Scratch()
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
        model = VARIANTS[name].model()
        reshape = VARIANTS[name].reshape_batches
        outputs[name] = model(reshape(xb, None)[0] if reshape else xb)
    torch.testing.assert_close(outputs["cnn"], outputs["sequential"])
    torch.testing.assert_close(outputs["cnn"], outputs["adaptive"])


def test_the_adaptive_cnn_takes_any_image_size():
    assert VARIANTS["adaptive"].model()(torch.rand(2, 1, 40, 36)).shape == (2, 10)


def test_optimizers_follow_the_tutorial():
    _, opt = get_model("scratch", lr=0.5, momentum=0.0)
    assert isinstance(opt, ManualSGD) and opt.lr == 0.5
    _, opt = get_model("cnn", lr=0.1, momentum=0.9)
    assert isinstance(opt, torch.optim.SGD)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["momentum"] == 0.9


def test_scratch_and_logistic_end_with_the_same_weights(tiny_splits):
    # The tutorial's claim for each refactor: nn.Linear + optim.SGD + F.cross_entropy do what
    # the hand-made weights, log_softmax/nll and the manual update did.
    train = TensorDataset(torch.from_numpy(tiny_splits["train"].x),
                          torch.from_numpy(tiny_splits["train"].y))
    valid = TensorDataset(torch.from_numpy(tiny_splits["valid"].x),
                          torch.from_numpy(tiny_splits["valid"].y))
    torch.manual_seed(0)
    scratch, logistic = Scratch(), Mnist_Logistic()
    with torch.no_grad():
        logistic.lin.weight.copy_(scratch.weights.T)
        logistic.lin.bias.copy_(scratch.bias)
    initial = scratch.weights.detach().clone()
    for model, opt, loss_func in [
        (scratch, ManualSGD(scratch.parameters(), lr=0.5), nll),
        (logistic, torch.optim.SGD(logistic.parameters(), lr=0.5), F.cross_entropy),
    ]:
        torch.manual_seed(7)  # the same shuffled batches for both: the tutorial's get_data
        fit(2, model, loss_func, opt, *get_data(train, valid, 64))
    assert (scratch.weights - initial).abs().max() > 0.01  # training moved the weights
    torch.testing.assert_close(logistic.lin.weight.T, scratch.weights, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(logistic.lin.bias, scratch.bias, rtol=1e-4, atol=1e-5)
