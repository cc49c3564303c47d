"""The tensor files between convert and train: ``data/tensors/<split>.safetensors``, with ``x``
(float32, N x 784, pixel / 256) and ``y`` (int64). safetensors' own API: no pickle, no code run
on load, and its numpy side for the stages that do not import torch.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from mnist_pipeline.core.atomic import atomic_path
from mnist_pipeline.core.errors import MissingInputError, PipelineError
from mnist_pipeline.core.names import SPLITS

if TYPE_CHECKING:  # convert reads the source files: the train stage has no need of it
    from mnist_pipeline.convert.readers import Split


class TensorFileError(PipelineError, ValueError):
    """A file that should be in the safetensors format is not."""


def split_path(folder: str | Path, split: str) -> Path:
    return Path(folder) / f"{split}.safetensors"


def save_splits(splits: dict[str, Split], folder: str | Path) -> None:
    for name in SPLITS:
        with atomic_path(split_path(folder, name)) as tmp:
            try:  # straight from the arrays' memory, no copy
                save_file({"x": splits[name].x, "y": splits[name].y}, str(tmp))
            except SafetensorError as err:  # an I/O error comes as text: "... (os error 28)"
                found = re.search(r"os error (\d+)", str(err))
                raise (OSError(int(found.group(1)), str(err)) if found else err) from None


def load_split(folder: str | Path, split: str, device: str = "cpu"):
    """One split as ``(x, y)`` torch tensors on ``device``."""
    from safetensors.torch import load_file

    path = _existing(split_path(folder, split), "run the convert stage first")
    tensors = load_file(str(path), device=device)
    return tensors["x"], tensors["y"]


def read_rows(path: str | Path, key: str, rows: list[int]) -> np.ndarray:
    """These ``rows`` of tensor ``key`` of a safetensors file, read alone (no torch)."""
    with open_safetensors(path) as f:
        if key not in f.keys():  # noqa: SIM118 - safe_open has keys(), not __contains__
            raise TensorFileError(f"{path}: no tensor {key!r}")
        tensor = f.get_slice(key)
        return np.concatenate([tensor[row:row + 1] for row in rows])


def read_metadata(path: str | Path) -> dict[str, str]:
    """A safetensors file's metadata (no torch): ``{}`` if it has none."""
    with open_safetensors(path) as f:
        return f.metadata() or {}


def open_safetensors(path: str | Path):
    path = _existing(Path(path))
    try:
        return safe_open(str(path), framework="numpy")
    except SafetensorError as err:
        raise TensorFileError(f"{path}: not a safetensors file ({err})") from None


def _existing(path: Path, hint: str = "") -> Path:
    if not path.is_file():
        raise MissingInputError(f"{path}: missing" + (f"; {hint}" if hint else ""))
    return path
