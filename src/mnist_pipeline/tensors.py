"""The tensor files between convert and train: one safetensors file per split.

``data/tensors/<split>.safetensors`` holds ``x`` (float32, N x 784) and ``y`` (int64, N).
safetensors stores raw little-endian buffers with a JSON header: loading is a copy out of a
memory map, with no pickle and so no code run on load.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from mnist_pipeline.errors import MissingInputError
from mnist_pipeline.files import atomic_path
from mnist_pipeline.formats import SPLITS, Split


def split_path(folder: str | Path, split: str) -> Path:
    return Path(folder) / f"{split}.safetensors"


def save_splits(splits: dict[str, Split], folder: str | Path) -> None:
    for name in SPLITS:
        split = splits[name]
        with atomic_path(split_path(folder, name)) as tmp:
            save_file({"x": np.ascontiguousarray(split.x), "y": np.ascontiguousarray(split.y)},
                      str(tmp))


def load_split(folder: str | Path, split: str, device: str = "cpu"):
    """Load one split as ``(x, y)`` torch tensors on ``device``."""
    from safetensors.torch import load_file

    path = split_path(folder, split)
    if not path.is_file():
        raise MissingInputError(f"{path}: missing; run the convert stage first")
    tensors = load_file(str(path), device=device)
    return tensors["x"], tensors["y"]
