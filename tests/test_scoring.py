"""The evaluate stage's scores: computed from the model file and the tensor files."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mnist_pipeline.core.model_files import save_model
from mnist_pipeline.core.tensor_files import save_splits
from mnist_pipeline.evaluate.scoring import evaluate_model, load_splits, most_wrong, score
from mnist_pipeline.variants import VARIANTS


def test_score_on_known_outputs():
    outputs = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [2.0, 0.0]])
    targets = torch.tensor([0, 1, 1, 1])
    scores = score(F.cross_entropy, outputs, targets)
    assert scores["accuracy"] == 0.5
    expected = (2 * math.log(1 + math.exp(-2)) + 2 * math.log(1 + math.exp(2))) / 4
    assert scores["loss"] == pytest.approx(expected, abs=1e-6)


def test_most_wrong_picks_the_highest_loss_samples_worst_first():
    targets = np.array([0, 1, 2, 3])
    log_probs = np.log(np.full((4, 10), 0.05))
    log_probs[0, 0], log_probs[1, 5], log_probs[2, 2], log_probs[3, 7] = -0.01, -0.1, -0.2, -0.3
    log_probs[1, 1], log_probs[3, 3] = np.log(0.01), np.log(0.001)
    assert most_wrong(log_probs, targets, count=2).tolist() == [3, 1]


@pytest.mark.parametrize("name", ["scratch", "adaptive"])
def test_a_model_file_is_scored_on_the_whole_of_each_split(tiny_splits, tmp_path, name):
    # Any weights do: the scores must be those of the model as the file holds it, on every
    # row of each split (adaptive: reshaped by its loader's reshape, as in training).
    save_splits(tiny_splits, tmp_path / "tensors")
    torch.manual_seed(4)
    model = VARIANTS[name].model()
    save_model(tmp_path / "m.safetensors", model.state_dict(),
               {"model": name, "bs": 16, "history": []})
    evaluation = evaluate_model(name, tmp_path / "m.safetensors", load_splits(tmp_path / "tensors"))
    reshape = VARIANTS[name].reshape_batches or (lambda x, y: (x, y))
    for split in ("valid", "test"):
        x, y = reshape(*(torch.from_numpy(getattr(tiny_splits[split], k)) for k in "xy"))
        with torch.no_grad():
            outputs = model(x)
        expected = VARIANTS[name].loss_func(outputs, y).item()
        assert evaluation.scores[split]["loss"] == pytest.approx(expected, abs=2e-6)
        accuracy = (outputs.argmax(dim=1) == y).float().mean().item()
        assert evaluation.scores[split]["accuracy"] == pytest.approx(accuracy, abs=1e-6)
    # The confusion matrix counts every test row once, by its actual digit.
    assert sum(evaluation.confusion.values()) == len(tiny_splits["test"].y)
    for digit in range(10):
        assert sum(n for (actual, _), n in evaluation.confusion.items() if actual == digit) \
            == int((tiny_splits["test"].y == digit).sum())
    wrong = evaluation.most_wrong
    assert wrong["actual"] == tiny_splits["valid"].y[wrong["index"]].tolist()
