"""PNG grids of digits with captions, for DVC image plots: the first training images with their
labels, and each model's validation images with the highest loss (``true -> predicted``)."""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mnist_pipeline.core.atomic import atomic_path

SIDE = 28
SCALE = 3  # 28 px digits are too small to read on a screen
CAPTION_PX = 14


def image_grid(images: np.ndarray, captions: list[str], columns: int = 8) -> Image.Image:
    """Tile ``images`` (N, 784) or (N, 28, 28), values in [0, 1], with a caption under each."""
    images = np.asarray(images, dtype=np.float32).reshape(-1, SIDE, SIDE)
    if len(images) != len(captions):
        raise ValueError(f"{len(images)} images but {len(captions)} captions")
    rows = max(1, -(-len(images) // columns))
    tile_w, tile_h = SIDE * SCALE, SIDE * SCALE + CAPTION_PX
    grid = Image.new("L", (columns * tile_w, rows * tile_h), color=255)
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default(size=11)
    for i, (pixels, caption) in enumerate(zip(images, captions, strict=True)):
        left, top = (i % columns) * tile_w, (i // columns) * tile_h
        # Dark ink on white, as digits are usually drawn.
        digit = Image.fromarray(np.uint8(255 - np.clip(pixels, 0, 1) * 255), mode="L")
        grid.paste(digit.resize((tile_w, tile_w), Image.NEAREST), (left, top))
        draw.text((left + 2, top + tile_w), caption, fill=0, font=font)
    return grid


def save_png(image: Image.Image, dest: str | Path) -> None:
    with atomic_path(dest) as tmp:
        image.save(tmp, format="PNG", optimize=True)


def sample_grid(x: np.ndarray, y: np.ndarray, count: int = 32) -> Image.Image:
    return image_grid(x[:count], [f"label {int(label)}" for label in y[:count]])


def most_wrong_grid(images: np.ndarray, actual: list[int], predicted: list[int]) -> Image.Image:
    """The images a model gets most wrong, captioned ``true -> predicted``."""
    # ASCII: the built-in font has no arrow glyph.
    captions = [f"{a} -> {p}" for a, p in zip(actual, predicted, strict=True)]
    return image_grid(images, captions)
