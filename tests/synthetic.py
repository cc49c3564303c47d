"""Generated MNIST-format data, for the tests and benchmarks, which run offline.

Each class is a stroke of its own angle and length at a jittered position, quantised to
``pixel / 256`` like the real file. Every variant learns it: with 15,000 training images a CNN
beats chance clearly within one epoch (it needs a few hundred steps to leave the initial plateau,
as on the real data), yet it is not trivially separable. The writers
produce the two real source formats: a gzipped protocol-2 pickle laid out like
``mnist.pkl.gz`` and the four gzipped idx files.
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

from mnist_pipeline.convert.readers import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, Split
from mnist_pipeline.core.names import CLASSES, IDX_FILES, SPLITS

SIDE = 28


def make_pixels(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 images (n, 28, 28) and their labels.

    Class k is a bright stroke at angle k * 18 degrees, 8 + 1.5k pixels long, through a centre
    jittered by up to 3 pixels, with random ink intensity, on a dark background: sparse like
    handwritten digits.
    """
    labels = rng.integers(0, CLASSES, size=n)
    angle = labels * (np.pi / CLASSES)
    half_length = (8 + 1.5 * labels) / 2
    centre = SIDE / 2 + rng.uniform(-3, 3, size=(2, n))
    rows, cols = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    dr = rows[None] - centre[0][:, None, None]
    dc = cols[None] - centre[1][:, None, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    across = np.abs(cos * dr - sin * dc)
    along = np.abs(sin * dr + cos * dc)
    stroke = np.clip(2.5 - across, 0, 1) * (along <= half_length[:, None, None])
    intensity = rng.uniform(0.7, 1.0, size=(n, 1, 1))
    images = np.clip(stroke * intensity, 0, 255 / 256)
    return (images * 256).astype(np.uint8), labels.astype(np.int64)


def make_splits(n_train: int, n_valid: int, n_test: int, seed: int = 0) -> dict[str, Split]:
    """Splits shaped like ``mnist.pkl.gz``'s: float32 (N, 784) ``pixel / 256``, int64 labels."""
    rng = np.random.default_rng(seed)
    splits = {}
    for name, n in zip(SPLITS, (n_train, n_valid, n_test), strict=True):
        pixels, labels = make_pixels(n, rng)
        x = pixels.reshape(n, SIDE * SIDE).astype(np.float32) / np.float32(256)
        splits[name] = Split(x, labels)
    return splits


def write_pickle(splits: dict[str, Split], path: str | Path) -> Path:
    """Write ``((x, y), (x, y), (x, y))`` as a gzipped protocol-2 pickle, as the real file is."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = tuple((splits[name].x, splits[name].y) for name in SPLITS)
    with gzip.open(path, "wb", compresslevel=1) as f:
        pickle.dump(data, f, protocol=2)
    return path


def write_idx_folder(splits: dict[str, Split], folder: str | Path) -> Path:
    """Write the four idx files; train + valid together form the idx training set."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    train_x = np.concatenate([splits["train"].x, splits["valid"].x])
    train_y = np.concatenate([splits["train"].y, splits["valid"].y])
    pairs = {
        "train_images": _idx_bytes(_to_pixels(train_x), IDX_IMAGES_MAGIC),
        "train_labels": _idx_bytes(train_y.astype(np.uint8), IDX_LABELS_MAGIC),
        "test_images": _idx_bytes(_to_pixels(splits["test"].x), IDX_IMAGES_MAGIC),
        "test_labels": _idx_bytes(splits["test"].y.astype(np.uint8), IDX_LABELS_MAGIC),
    }
    for key, payload in pairs.items():
        with gzip.open(folder / IDX_FILES[key], "wb", compresslevel=1) as f:
            f.write(payload)
    return folder


def _to_pixels(x: np.ndarray) -> np.ndarray:
    return np.rint(x * 256).astype(np.uint8).reshape(len(x), SIDE, SIDE)


def _idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()
