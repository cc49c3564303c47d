"""The tensor files between convert and train: one safetensors file per split.

``data/tensors/<split>.safetensors`` holds ``x`` (float32, N x 784) and ``y`` (int64, N).
safetensors stores raw little-endian buffers behind a JSON header: loading maps the file
(zero-copy, no pickle, so no code runs on load). The writer here streams each array straight from
its own memory into the file; ``safetensors.numpy.save_file`` first copies every array into a
bytes object, an extra pass over 210 MB and twice the memory for the largest array. The header
reader and ``map_array`` need only numpy, for the stages that do not import torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mnist_pipeline.errors import MissingInputError, PipelineError
from mnist_pipeline.files import atomic_path
from mnist_pipeline.registry import SPLITS

if TYPE_CHECKING:  # formats reads the source files: the train stage has no need of it
    from mnist_pipeline.formats import Split


def split_path(folder: str | Path, split: str) -> Path:
    return Path(folder) / f"{split}.safetensors"


SAFETENSORS_DTYPES = {np.dtype("float32"): "F32", np.dtype("int64"): "I64"}
MAX_HEADER_BYTES = 100_000_000  # the format's own limit


class TensorFileError(PipelineError, ValueError):
    """A file that should be in the safetensors format is not."""


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


def read_header(path: str | Path) -> tuple[dict, int]:
    """A safetensors file's JSON header and the offset where its data starts (no torch)."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: missing")
    with open(path, "rb") as f:
        prefix = f.read(8)
        size = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
        if not 2 <= size <= MAX_HEADER_BYTES:
            raise TensorFileError(f"{path}: not a safetensors file (bad header length)")
        raw = f.read(size)
    try:
        header = json.loads(raw)
    except ValueError as err:
        raise TensorFileError(f"{path}: not a safetensors file ({err})") from None
    if not isinstance(header, dict) or len(raw) != size:
        raise TensorFileError(f"{path}: not a safetensors file (truncated header)")
    return header, 8 + size


def map_array(path: str | Path, key: str) -> np.ndarray:
    """Tensor ``key`` of a file written by :func:`write_safetensors`, memory-mapped (no torch)."""
    header, data_start = read_header(path)
    entry = header.get(key)
    dtypes = {code: dtype for dtype, code in SAFETENSORS_DTYPES.items()}
    if not isinstance(entry, dict) or entry.get("dtype") not in dtypes:
        raise TensorFileError(f"{path}: no float32/int64 tensor {key!r}")
    start, _ = entry["data_offsets"]
    return np.memmap(path, dtype=dtypes[entry["dtype"]].newbyteorder("<"), mode="r",
                     offset=data_start + start, shape=tuple(entry["shape"]))
