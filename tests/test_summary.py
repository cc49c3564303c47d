"""The markdown summary across models."""

import json

import pytest

from mnist_pipeline.evaluate.summary import summary_table


def write(folder, name, valid_loss):
    metrics = {"valid": {"loss": valid_loss, "accuracy": 0.9},
               "test": {"loss": 0.31, "accuracy": 0.875, "per_class_accuracy": {"0": 1.0}},
               "train": {"device": "cpu", "epochs": 2}}
    (folder / f"{name}.json").write_text(json.dumps(metrics))


def test_one_row_per_model_in_registry_order(tmp_path):
    write(tmp_path, "cnn", 0.25)
    write(tmp_path, "scratch", 0.3)
    lines = summary_table(tmp_path).splitlines()
    assert lines[0] == ("| model | valid loss | valid accuracy | test loss | test accuracy "
                        "| epochs | device |")
    assert lines[2] == "| `scratch` | 0.3000 | 0.9000 | 0.3100 | 0.8750 | 2 | cpu |"
    assert lines[3].startswith("| `cnn` | 0.2500 |")
    assert len(lines) == 4


def test_no_metrics_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `dvc repro` first"):
        summary_table(tmp_path)
