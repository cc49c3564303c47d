"""Model files: the weights and the model card, read back with and without torch."""

import subprocess
import sys

import pytest
import torch

from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.core.model_files import read_card, save_model
from mnist_pipeline.evaluate.scoring import load_model
from mnist_pipeline.variants import get_model


@pytest.mark.parametrize("name", ["scratch", "sequential"])
def test_weights_round_trip_with_their_card(tmp_path, name):
    torch.manual_seed(0)
    model, _ = get_model(name, 0.1, 0.0)
    path = tmp_path / f"{name}.safetensors"
    save_model(path, model.state_dict(), {"model": name, "device": "cpu", "epochs": 2})
    loaded, card = load_model(name, path)
    assert card == read_card(path) == {"model": name, "device": "cpu", "epochs": 2}
    # The same card in another order gives the same bytes.
    again = tmp_path / "again.safetensors"
    save_model(again, model.state_dict(), {"epochs": 2, "device": "cpu", "model": name})
    assert again.read_bytes() == path.read_bytes()
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    with pytest.raises(PipelineError, match=f"holds model '{name}', not 'cnn'"):
        load_model("cnn", path)


def test_the_card_is_read_without_torch(tmp_path):
    model, _ = get_model("logistic", 0.5, 0.0)
    save_model(tmp_path / "m.safetensors", model.state_dict(), {"model": "logistic"})
    code = ("import sys; from mnist_pipeline.core.model_files import read_card; "
            f"r = read_card({str(tmp_path / 'm.safetensors')!r}, 'logistic'); "
            "print(r['model'], 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["logistic", "False"]


def test_a_file_that_is_not_safetensors_is_one_clear_error(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"<html>not a model</html>")
    with pytest.raises(PipelineError, match=r"m.safetensors: not a safetensors file \("):
        read_card(path)
