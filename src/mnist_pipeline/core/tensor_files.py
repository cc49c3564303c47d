"""The tensor files between convert and train: ``data/tensors/<split>.safetensors``, with ``x``
(N x 784) and ``y`` (int64). safetensors' own API: no pickle, no code run on load, and its numpy
side for the stages that do not import torch.

MNIST's pixels are k / 256 for a byte k, so ``x`` holds the bytes k (uint8, a quarter of the
float32 size) and the loaders multiply by 1/256 in float32: a power of two, so every value comes
back bit for bit. A source with any other value keeps float32 ``x``, which loads as it is."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from mnist_pipeline.core.atomic import atomic_path
from mnist_pipeline.core.errors import MissingInputError, PipelineError
from mnist_pipeline.core.names import CLASSES, PIXELS, SPLITS

if TYPE_CHECKING:  # convert reads the source files: the train stage has no need of it
    from mnist_pipeline.convert.readers import Split

log = logging.getLogger(__name__)


class TensorFileError(PipelineError, ValueError):
    """A file that should be in the safetensors format is not."""


def split_path(folder: str | Path, split: str) -> Path:
    return Path(folder) / f"{split}.safetensors"


PIXEL_SCALE = 1 / 256  # a uint8 x is k / 256
CHUNK_ROWS = 1024  # rows checked at once (3 MB of float32): two buffers that stay in cache


def save_splits(splits: dict[str, Split], folder: str | Path) -> None:
    for name in SPLITS:
        x = splits[name].x
        stored = as_pixel_bytes(x)
        if stored is None:
            stored = x
            log.info("%s: x keeps float32: some values are not k/256 for a byte k", name)
        with atomic_path(split_path(folder, name)) as tmp:
            try:  # straight from the arrays' memory, no copy
                save_file({"x": stored, "y": splits[name].y}, str(tmp))
            except SafetensorError as err:  # an I/O error comes as text: "... (os error 28)"
                found = re.search(r"os error (\d+)", str(err))
                raise (OSError(int(found.group(1)), str(err)) if found else err) from None


def as_pixel_bytes(x: np.ndarray) -> np.ndarray | None:
    """``x`` (float32) as the bytes k of its values k / 256, or ``None`` unless every value comes
    back from them bit for bit (so -0.0, 1.0 and 0.3 all keep float32)."""
    if x.dtype != np.float32 or not x.size or x.max() > np.float32(255 / 256):
        return None
    pixels = np.empty(x.shape, dtype=np.uint8)
    # Cache-sized chunks through two reused buffers: no fresh pages per chunk.
    scaled, back = np.empty((2, min(CHUNK_ROWS, len(x)), *x.shape[1:]), dtype=np.float32)
    for first in range(0, len(x), CHUNK_ROWS):
        chunk, k = x[first:first + CHUNK_ROWS], pixels[first:first + CHUNK_ROWS]
        rows = len(chunk)
        np.multiply(chunk, np.float32(256), out=scaled[:rows])
        np.copyto(k, scaled[:rows], casting="unsafe")  # in [0, 255] by the check above
        np.multiply(k, np.float32(PIXEL_SCALE), out=back[:rows], dtype=np.float32)
        if not np.array_equal(back[:rows].view(np.uint32), chunk.view(np.uint32)):
            return None
    return pixels


def load_split(folder: str | Path, split: str, device: str = "cpu"):
    """One split as ``(x, y)`` torch tensors on ``device``, ``x`` float32 in [0, 1]."""
    import torch
    from safetensors.torch import load_file

    path = _existing(split_path(folder, split), "run the convert stage first")
    try:
        tensors = load_file(str(path), device=device)
    except SafetensorError as err:
        raise TensorFileError(f"{path}: not a safetensors file ({err}); run convert again"
                              ) from None
    x, y = tensors.get("x"), tensors.get("y")
    _check_split(path, x, y)
    if x.dtype == torch.uint8:  # converted where it lies (on a GPU: a quarter of the copying)
        x = x.to(torch.float32).mul_(PIXEL_SCALE)
    elif not bool(((x >= 0) & (x <= 1)).all()):  # NaN fails it too
        raise TensorFileError(f"{path}: x values must lie in [0, 1]; run convert again")
    return x, y


def _check_split(path: Path, x, y) -> None:
    """What convert writes: x (N, 784) bytes or float32, y (N,) int64 labels 0-9, N > 0."""
    import torch

    if x is None or y is None:
        raise TensorFileError(f"{path}: expected tensors x and y; run convert again")
    if (x.dtype not in (torch.uint8, torch.float32) or x.ndim != 2 or x.shape[1] != PIXELS
            or len(x) == 0):
        raise TensorFileError(f"{path}: x must be uint8 or float32 (N, {PIXELS}), got "
                              f"{x.dtype} {tuple(x.shape)}; run convert again")
    if y.dtype != torch.int64 or y.ndim != 1 or len(y) != len(x):
        raise TensorFileError(f"{path}: y must be int64 ({len(x)},), got {y.dtype} "
                              f"{tuple(y.shape)}; run convert again")
    if int(y.min()) < 0 or int(y.max()) >= CLASSES:
        raise TensorFileError(f"{path}: labels must be 0..{CLASSES - 1}; run convert again")


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
