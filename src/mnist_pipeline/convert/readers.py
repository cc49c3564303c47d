"""Read ``mnist.pkl.gz`` (with the restricted ``unpickler``), or the four MNIST idx files
(pixel / 256, the last 10,000 training images as validation, as ``mnist.pkl.gz`` was made),
into validated splits. A broken file fails with one line naming it; an idx header asking for
more than its gzip file can hold is refused before anything that large is read."""

import contextlib
import gzip
import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_pipeline.convert.unpickler import NumpyOnlyUnpickler
from mnist_pipeline.core.errors import MissingInputError, PipelineError, one_line
from mnist_pipeline.core.names import CLASSES, IDX_FILES, PICKLE_NAME, PIXELS, SPLITS


class DatasetFormatError(PipelineError, ValueError):
    """The source file parsed but does not hold MNIST-shaped data."""


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # float32 (N, 784), values in [0, 1]
    y: np.ndarray  # int64 (N,), values 0..9


IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049
VALID_SIZE = 10_000
GZIP_MAX_RATIO = 1032  # deflate expands at most ~1032:1, so a header can be checked up front
READ_CHUNK_BYTES = 1 << 20


def read_source(path: str | Path, valid_size: int = VALID_SIZE) -> dict[str, Split]:
    """``mnist.pkl.gz``, or a folder holding it (first) or the four idx files, validated;
    ``valid_size`` images from the end of an idx training set become the validation split."""
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"{path}: missing; run the fetch stage first")
    if path.is_dir() and (path / PICKLE_NAME).is_file():
        path = path / PICKLE_NAME
    if not path.is_dir():
        splits = read_pickle(path)
    elif any((path / name).exists() for name in IDX_FILES.values()):
        splits = read_idx_folder(path, valid_size)
    else:
        raise DatasetFormatError(f"{path}: expected {PICKLE_NAME} or the four MNIST idx files "
                                 f"({', '.join(IDX_FILES.values())}) in this folder; it has "
                                 f"neither")
    validate(splits, str(path))
    return splits


def read_pickle(path: str | Path) -> dict[str, Split]:
    with _GzipStream(path) as f:
        try:
            data = NumpyOnlyUnpickler(f, encoding="latin-1").load()
        except PipelineError:
            raise  # gzip's errors (named by _GzipStream) and refused globals
        except Exception as err:  # bytes that are not a pickle of arrays
            # The unpickler runs nothing but the guards, so whatever else it raises (an
            # opcode on the wrong object, a missing memo entry, a huge length) is the file's.
            if isinstance(err, KeyError) and err.args and isinstance(err.args[0], int):
                # The pure-Python unpickler's lookup of an opcode it does not know.
                reason = f"invalid load key, {chr(err.args[0])!r}."
            else:
                reason = one_line(err) or type(err).__name__
            raise DatasetFormatError(f"{path}: expected a pickle of numpy arrays inside the gzip; "
                                     f"unpickling failed: {reason}") from None
    if not (isinstance(data, tuple) and len(data) == 3):
        size = f" of {len(data)}" if isinstance(data, (tuple, list)) else ""
        raise DatasetFormatError(f"{path}: expected a tuple of 3 (x, y) splits {SPLITS}, got "
                                 f"a {type(data).__name__}{size}")
    splits = {}
    for name, pair in zip(SPLITS, data, strict=True):
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise DatasetFormatError(f"{path}: split {name!r} is not an (x, y) pair")
        if not all(isinstance(array, np.ndarray) for array in pair):
            raise DatasetFormatError(f"{path}: split {name!r} does not hold numpy arrays")
        splits[name] = Split(*pair)
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
    """One gzipped idx file (as torchvision's ``read_sn3_pascalvincent_tensor``), read in chunks:
    memory follows what the file holds, never what its header claims."""
    with _GzipStream(path) as f:
        head = f.read(4)
        if len(head) < 4:
            raise DatasetFormatError(f"{path}: too short for an idx header")
        found = int.from_bytes(head, "big")
        if found != magic:
            kind = "images" if magic == IDX_IMAGES_MAGIC else "labels"
            raise DatasetFormatError(f"{path}: magic number {found}, expected {magic} "
                                     f"(MNIST idx {kind})")
        ndim = head[3]  # part of the magic: 3 for images, 1 for labels
        raw_dims = f.read(4 * ndim)
        if len(raw_dims) != 4 * ndim:
            raise DatasetFormatError(f"{path}: the idx header ends early")
        dims = tuple(int.from_bytes(raw_dims[i : i + 4], "big") for i in range(0, 4 * ndim, 4))
        if magic == IDX_IMAGES_MAGIC and dims[1:] != (28, 28):
            raise DatasetFormatError(f"{path}: expected N x 28 x 28 images, got {dims}")
        size, compressed = math.prod(dims), path.stat().st_size
        if size > compressed * GZIP_MAX_RATIO:
            raise DatasetFormatError(
                f"{path}: header asks for {' x '.join(map(str, dims))} = {size} bytes, more than "
                f"a {compressed}-byte gzip file can hold; expected a real MNIST idx file")
        data = _read_at_most(f, size + 1)
    if len(data) != size:
        raise DatasetFormatError(f"{path}: header says {dims} ({size} bytes of data) but the "
                                 f"file holds {'more' if len(data) > size else len(data)}")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _read_at_most(f: gzip.GzipFile, limit: int) -> bytearray:
    data = bytearray()
    while len(data) < limit:
        chunk = f.read(min(READ_CHUNK_BYTES, limit - len(data)))
        if not chunk:
            break
        data += chunk
    return data


class _GzipStream(gzip.GzipFile):
    """A gzip file whose read errors are one line naming it; apart from the unpickler's on
    purpose: gzip reports a truncated file as ``EOFError``, as pickle does a short pickle."""

    def read(self, size: int = -1) -> bytes:
        with self._named_errors():
            return super().read(size)

    def readline(self, size: int = -1) -> bytes:
        with self._named_errors():
            return super().readline(size)

    @contextlib.contextmanager
    def _named_errors(self) -> Iterator[None]:
        try:
            yield
        except EOFError:
            raise DatasetFormatError(f"{self.name}: truncated: the gzip data ends before its "
                                     f"end marker (download it again)") from None
        except (gzip.BadGzipFile, zlib.error) as err:
            with open(self.name, "rb") as f:
                start = f.read(8)
            if not start.startswith(b"\x1f\x8b"):
                raise DatasetFormatError(f"{self.name}: expected a gzip file (starting 1f 8b), "
                                         f"got one starting {start!r}") from None
            raise DatasetFormatError(f"{self.name}: corrupt gzip data: {one_line(err)}") from None


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
            raise DatasetFormatError(f"{where}: x must be float32 (N, {PIXELS}), got {x.dtype} "
                                     f"{x.shape}")
        # Written so that NaN (which fails every comparison) is rejected too.
        if x.size and not (x.min() >= 0 and x.max() <= 1):
            raise DatasetFormatError(f"{where}: x values must lie in [0, 1], got [{x.min()}, "
                                     f"{x.max()}]")
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise DatasetFormatError(f"{where}: y must be 1-D integers, got {y.dtype} {y.shape}")
        if len(x) != len(y):
            raise DatasetFormatError(f"{where}: {len(x)} images but {len(y)} labels")
        if len(x) == 0:
            raise DatasetFormatError(f"{where}: empty")
        if y.min() < 0 or y.max() >= CLASSES:
            raise DatasetFormatError(f"{where}: labels must be 0..{CLASSES - 1}, got "
                                     f"[{y.min()}, {y.max()}]")
        if y.dtype != np.int64:
            splits[name] = Split(x, y.astype(np.int64))
