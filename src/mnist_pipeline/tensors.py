"""The tensor files between convert and train: one safetensors file per split.

``data/tensors/<split>.safetensors`` holds ``x`` (float32, N x 784) and ``y`` (int64, N).
safetensors stores raw little-endian buffers behind a JSON header: loading maps the file
(zero-copy, no pickle, so no code runs on load). The writer here streams each array straight from
its own memory into the file; ``safetensors.numpy.save_file`` first copies every array into a
bytes object, an extra pass over 210 MB and twice the memory for the largest array.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mnist_pipeline.errors import MissingInputError
from mnist_pipeline.files import atomic_path
from mnist_pipeline.formats import SPLITS, Split


def split_path(folder: str | Path, split: str) -> Path:
    return Path(folder) / f"{split}.safetensors"


SAFETENSORS_DTYPES = {np.dtype("float32"): "F32", np.dtype("int64"): "I64"}


def save_splits(splits: dict[str, Split], folder: str | Path) -> None:
    for name in SPLITS:
        split = splits[name]
        write_safetensors(split_path(folder, name), {"x": split.x, "y": split.y})


def write_safetensors(dest: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` in the safetensors format, atomically, without copying them first."""
    header, offset = {}, 0
    contiguous = {}
    # The library's order: larger element types first, then by name.
    for key, array in sorted(arrays.items(), key=lambda kv: (-kv[1].dtype.itemsize, kv[0])):
        # The format is little-endian and C-ordered; both are no-ops for this project's arrays.
        array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        dtype = SAFETENSORS_DTYPES[array.dtype.newbyteorder("=")]
        header[key] = {"dtype": dtype, "shape": list(array.shape),
                       "data_offsets": [offset, offset + array.nbytes]}
        contiguous[key] = array
        offset += array.nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the format pads the header to keep data aligned
    with atomic_path(dest) as tmp, open(tmp, "wb") as f:
        f.write(len(encoded).to_bytes(8, "little"))
        f.write(encoded)
        for array in contiguous.values():
            f.write(memoryview(array).cast("B"))


def load_split(folder: str | Path, split: str, device: str = "cpu"):
    """Load one split as ``(x, y)`` torch tensors on ``device``."""
    from safetensors.torch import load_file

    path = split_path(folder, split)
    if not path.is_file():
        raise MissingInputError(f"{path}: missing; run the convert stage first")
    tensors = load_file(str(path), device=device)
    return tensors["x"], tensors["y"]
