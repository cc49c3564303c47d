"""The trained model's scores, as the train stage records them."""

import math

import numpy as np
import pytest
import torch

from mnist_pipeline.train.scoring import most_wrong, score


def test_score_on_known_outputs():
    outputs = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [2.0, 0.0]])
    targets = torch.tensor([0, 1, 1, 1])
    loss, accuracy = score(torch.nn.functional.cross_entropy, outputs, targets)
    assert accuracy == 0.5
    expected = (2 * math.log(1 + math.exp(-2)) + 2 * math.log(1 + math.exp(2))) / 4
    assert loss == pytest.approx(expected, rel=1e-6)


def test_most_wrong_picks_the_highest_loss_samples_worst_first():
    targets = np.array([0, 1, 2, 3])
    log_probs = np.log(np.full((4, 10), 0.05))
    log_probs[0, 0], log_probs[1, 5], log_probs[2, 2], log_probs[3, 7] = -0.01, -0.1, -0.2, -0.3
    log_probs[1, 1], log_probs[3, 3] = np.log(0.01), np.log(0.001)
    assert most_wrong(log_probs, targets, count=2).tolist() == [3, 1]
