"""Read the MNIST source formats into validated numpy splits.

Two sources give the same result:

* ``mnist.pkl.gz``, the tutorial's file: a gzipped Python 2 pickle of three ``(x, y)`` pairs.
  It is read with :class:`~mnist_pipeline.safe_unpickle.NumpyOnlyUnpickler`, which rebuilds
  numpy arrays of numbers and nothing else: a hostile pickle raises :class:`UnsafePickleError`
  before anything it names can run.
* the four MNIST idx files (``train-images-idx3-ubyte.gz`` ...): big-endian headers with magic
  2051 (images) and 2049 (labels). Pixels become ``pixel / 256`` and the last 10,000 training
  images become the validation split, which is exactly how ``mnist.pkl.gz`` was made.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_pipeline.errors import PipelineError
from mnist_pipeline.safe_unpickle import NumpyOnlyUnpickler
from mnist_pipeline.safe_unpickle import UnsafePickleError as UnsafePickleError  # re-exported

SPLITS = ("train", "valid", "test")
PIXELS = 28 * 28
CLASSES = 10
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049
VALID_SIZE = 10_000

class DatasetFormatError(PipelineError, ValueError):
    """The source file parsed but does not hold MNIST-shaped data."""


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # float32 (N, 784), values in [0, 1]
    y: np.ndarray  # int64 (N,), values 0..9


def read_source(path: str | Path, valid_size: int = VALID_SIZE) -> dict[str, Split]:
    """Read ``mnist.pkl.gz`` (a file) or a folder of the four idx files, validated.

    ``valid_size`` applies to idx sources only: that many images from the end of the idx
    training set become the validation split.
    """
    path = Path(path)
    splits = read_idx_folder(path, valid_size) if path.is_dir() else read_pickle(path)
    validate(splits, str(path))
    return splits


def read_pickle(path: str | Path) -> dict[str, Split]:
    with gzip.open(path, "rb") as f:
        data = NumpyOnlyUnpickler(f, encoding="latin-1").load()
    if not (isinstance(data, tuple) and len(data) == 3):
        raise DatasetFormatError(f"{path}: expected a tuple of 3 (x, y) splits: {SPLITS}")
    splits = {}
    for name, pair in zip(SPLITS, data, strict=True):
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise DatasetFormatError(f"{path}: split {name!r} is not an (x, y) pair")
        x, y = pair
        if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)):
            raise DatasetFormatError(f"{path}: split {name!r} does not hold numpy arrays")
        splits[name] = Split(x, y)
    return splits


def read_idx_folder(folder: Path, valid_size: int = VALID_SIZE) -> dict[str, Split]:
    missing = [name for name in IDX_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise DatasetFormatError(f"{folder}: missing idx files: {', '.join(missing)}")
    images = read_idx(folder / IDX_FILES["train_images"], IDX_IMAGES_MAGIC)
    labels = read_idx(folder / IDX_FILES["train_labels"], IDX_LABELS_MAGIC)
    test_images = read_idx(folder / IDX_FILES["test_images"], IDX_IMAGES_MAGIC)
    test_labels = read_idx(folder / IDX_FILES["test_labels"], IDX_LABELS_MAGIC)
    if len(images) <= valid_size:
        raise DatasetFormatError(f"{folder}: the training set needs more than {valid_size} images")
    cut = len(images) - valid_size
    return {
        "train": Split(_scale(images[:cut]), labels[:cut].astype(np.int64)),
        "valid": Split(_scale(images[cut:]), labels[cut:].astype(np.int64)),
        "test": Split(_scale(test_images), test_labels.astype(np.int64)),
    }


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse one gzipped idx file (as torchvision's ``read_sn3_pascalvincent_tensor`` does)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise DatasetFormatError(f"{path}: too short for an idx header")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise DatasetFormatError(f"{path}: magic number {found}, expected {magic}")
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">u4", count=ndim, offset=4).astype(np.int64)
    if magic == IDX_IMAGES_MAGIC and (ndim != 3 or tuple(dims[1:]) != (28, 28)):
        raise DatasetFormatError(f"{path}: expected N x 28 x 28 images, got {tuple(dims)}")
    if magic == IDX_LABELS_MAGIC and ndim != 1:
        raise DatasetFormatError(f"{path}: expected a 1-D label list, got {tuple(dims)}")
    offset = 4 * (ndim + 1)
    if len(data) - offset != int(np.prod(dims)):
        raise DatasetFormatError(f"{path}: header says {tuple(dims)} but the data size differs")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(tuple(dims))


def _scale(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), PIXELS).astype(np.float32) / np.float32(256)


def validate(splits: dict[str, Split], source: str) -> None:
    """Raise :class:`DatasetFormatError` unless every split is MNIST-shaped; cast y to int64."""
    if set(splits) != set(SPLITS):
        raise DatasetFormatError(f"{source}: expected splits {SPLITS}, got {tuple(splits)}")
    for name, split in splits.items():
        where = f"{source}: split {name!r}"
        x, y = split.x, split.y
        if x.dtype != np.float32 or x.ndim != 2 or x.shape[1] != PIXELS:
            raise DatasetFormatError(
                f"{where}: x must be float32 (N, {PIXELS}), got {x.dtype} {x.shape}"
            )
        # Written so that NaN (which fails every comparison) is rejected too.
        if x.size and not (x.min() >= 0 and x.max() <= 1):
            raise DatasetFormatError(
                f"{where}: x values must lie in [0, 1], got [{x.min()}, {x.max()}]"
            )
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise DatasetFormatError(f"{where}: y must be 1-D integers, got {y.dtype} {y.shape}")
        if len(x) != len(y):
            raise DatasetFormatError(f"{where}: {len(x)} images but {len(y)} labels")
        if len(x) == 0:
            raise DatasetFormatError(f"{where}: empty")
        if y.min() < 0 or y.max() >= CLASSES:
            raise DatasetFormatError(
                f"{where}: labels must be 0..{CLASSES - 1}, got [{y.min()}, {y.max()}]"
            )
        if y.dtype != np.int64:
            splits[name] = Split(x, y.astype(np.int64))
