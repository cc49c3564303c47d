"""What to fetch and from where: ``data.url``, then each of ``data.mirrors``, as sources.

A source is ``mnist.pkl.gz`` at a URL or path, or the four gzipped MNIST idx files under a base
URL or folder, each file with what it must be (size, md5).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mnist_pipeline.core.names import IDX_FILES, PICKLE_NAME
from mnist_pipeline.core.params import DataParams

IDX_MAX_BYTES = 64 << 20  # the largest real idx file is 9.9 MB; more means a runaway server


@dataclass(frozen=True)
class Expected:
    """What a downloaded file must be; ``None`` skips that check."""

    size: int | None
    md5: str | None


@dataclass(frozen=True)
class RemoteFile:
    name: str  # its name in the output folder
    location: str  # URL or path
    expected: Expected
    max_bytes: int | None  # stop reading past this many bytes


@dataclass(frozen=True)
class Source:
    label: str  # how messages name it: the file's URL, or the idx files' base URL
    files: tuple[RemoteFile, ...]


def pickle_source(location: str, expected: Expected) -> Source:
    return Source(location, (RemoteFile(PICKLE_NAME, location, expected, expected.size),))


def idx_source(base: str, md5: dict[str, str]) -> Source:
    files = tuple(RemoteFile(name, _join(base, name), Expected(None, md5[name]), IDX_MAX_BYTES)
                  for name in IDX_FILES.values())
    return Source(base, files)


def dataset_sources(data: DataParams) -> list[Source]:
    """``data.url``, then each mirror, as sources."""
    expected = Expected(data.size, data.md5)
    return [pickle_source(data.url, expected)] + [
        pickle_source(mirror.url, expected) if mirror.format == "pickle"
        else idx_source(mirror.url, mirror.md5.by_file_name())
        for mirror in data.mirrors
    ]


def _join(base: str, name: str) -> str:
    if "://" in base:
        return base.rstrip("/") + "/" + name
    return str(Path(base) / name)
