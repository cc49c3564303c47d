"""PNG grids: sizes, captions and which images count as 'most wrong'."""

import numpy as np
import pytest
from PIL import Image

from mnist_pipeline.evaluate import pictures
from mnist_pipeline.evaluate.pictures import image_grid, most_wrong_grid, sample_grid, save_png


def test_grid_size_follows_count_and_columns():
    grid = image_grid(np.zeros((10, 784)), [str(i) for i in range(10)], columns=4)
    tile = 28 * pictures.SCALE
    assert grid.size == (4 * tile, 3 * (tile + pictures.CAPTION_PX))


def test_digit_ink_is_dark_on_white():
    x = np.zeros((1, 28, 28), np.float32)
    x[0, 10:18, 10:18] = 1.0
    grid = np.asarray(image_grid(x, [""], columns=1))
    s = pictures.SCALE
    assert grid[14 * s, 14 * s] == 0 and grid[2 * s, 2 * s] == 255


def test_caption_count_must_match():
    with pytest.raises(ValueError, match="2 images but 1 captions"):
        image_grid(np.zeros((2, 784)), ["a"])


def test_most_wrong_grid_captions_true_then_predicted(monkeypatch):
    seen = {}
    monkeypatch.setattr(pictures, "image_grid",
                        lambda x, captions: seen.update(x=x, captions=captions))
    x = np.arange(2)[:, None] * np.ones((2, 784), np.float32) / 4
    most_wrong_grid(x, [3, 1], [7, 5])
    assert seen["captions"] == ["3 -> 7", "1 -> 5"]
    np.testing.assert_array_equal(seen["x"], x)


def test_png_is_written_and_reproducible(tmp_path, tiny_splits):
    split = tiny_splits["train"]
    save_png(sample_grid(split.x, split.y), tmp_path / "a.png")
    save_png(sample_grid(split.x, split.y), tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert Image.open(tmp_path / "a.png").format == "PNG"
