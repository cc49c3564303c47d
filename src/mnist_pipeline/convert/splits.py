"""The three splits as numpy arrays, and the checks every source's splits must pass."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.core.names import CLASSES, SPLITS

PIXELS = 28 * 28


class DatasetFormatError(PipelineError, ValueError):
    """The source file parsed but does not hold MNIST-shaped data."""


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # float32 (N, 784), values in [0, 1]
    y: np.ndarray  # int64 (N,), values 0..9


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
