"""Fetch the MNIST dataset into a folder (``data/raw``) from the first source that delivers it.

Sources are tried in order: ``data.url``, then each of ``data.mirrors``. A string is a place
for ``mnist.pkl.gz`` (``http(s)://``, ``file://`` or a path); a ``{format: idx, url, md5}``
entry is a base URL (or folder) holding the four gzipped MNIST idx files, each with its md5.
The folder ends up holding either ``mnist.pkl.gz`` or those four files, verbatim, and
``formats.read_source`` reads either into the same tensors.

What each fault does:

* a dropped connection, a stall longer than ``timeout_s`` (per read, not for the whole file), a
  refused connection or an HTTP 5xx is retried with exponential backoff, and the retry resumes
  from the bytes already received (``Range: bytes=N-``); a server that answers 200 (ignoring
  the range) or 416 is read from byte 0 again;
* an HTTP 4xx, a host name that does not resolve (the resolver has retried already) or an HTML
  page where the data should be (a captive portal, a login wall) moves on to the next source;
* every file is checked against its size and md5; one that fails after a resume is downloaded
  once more from byte 0, in case the partial file was stale.

Storage: downloads in progress are ``.part`` files (one per URL) in ``data/.raw.download/``,
beside the output and not inside it, because DVC deletes ``data/raw`` before it reruns the
stage and a resume needs them. A file that failed for good (wrong bytes, 4xx, HTML) is not
kept; one cut short (a drop, a stall, a 5xx) is, for the next run to resume. Only when every
file of a source has verified are they moved into a new folder beside ``data/raw`` that then
takes its place by a rename, so ``data/raw`` is complete or absent, never partial. If every
source fails, :class:`FetchError` lists one short line per source and ends with a hint for
working offline; a full disk is one line too.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import requests

from mnist_pipeline.download import COPY_CHUNK_BYTES, SourceError, fetch_once
from mnist_pipeline.errors import PipelineError
from mnist_pipeline.files import full_disk_as_error, umask
from mnist_pipeline.params import IDX_FILE_NAMES, DataParams
from mnist_pipeline.registry import PICKLE_NAME

log = logging.getLogger(__name__)

IDX_MAX_BYTES = 64 << 20  # the largest real idx file is 9.9 MB; more means a runaway server
OFFLINE_HINT = ("working offline? put the path of a local copy of mnist.pkl.gz in data.mirrors, "
                "or get the dataset from a team remote with `dvc pull data/raw`")


class FetchError(PipelineError, RuntimeError):
    """Every source failed; the message lists each one and why."""


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


@dataclass(frozen=True)
class Patience:
    timeout_s: float = 30.0  # per connect and per read
    retries: int = 3  # extra tries per file on retryable errors
    backoff_s: float = 1.0  # before retry k: backoff_s * 2**k
    sleep: Callable[[float], None] = time.sleep


def pickle_source(location: str, expected: Expected) -> Source:
    return Source(location, (RemoteFile(PICKLE_NAME, location, expected, expected.size),))


def idx_source(base: str, md5: dict[str, str]) -> Source:
    files = tuple(RemoteFile(name, _join(base, name), Expected(None, md5[name]), IDX_MAX_BYTES)
                  for name in IDX_FILE_NAMES)
    return Source(base, files)


def dataset_sources(data: DataParams) -> list[Source]:
    """``data.url``, then each mirror, as sources."""
    expected = Expected(data.size, data.md5)
    return [pickle_source(data.url, expected)] + [
        pickle_source(mirror, expected) if isinstance(mirror, str)
        else idx_source(mirror.url, mirror.md5)
        for mirror in data.mirrors
    ]


def download_dir(dest: str | Path) -> Path:
    """Where downloads into ``dest`` keep their ``.part`` files: ``data/.raw.download``."""
    dest = Path(dest)
    return dest.parent / f".{dest.name}.download"


def fetch_dataset(sources: Iterable[Source], dest: str | Path,
                  patience: Patience = Patience()) -> Source:
    """Fill the folder ``dest`` from the first source whose every file verifies; return it."""
    dest = Path(dest)
    staging = download_dir(dest)
    _remove_stale_builds(dest)
    failures = []
    with requests.Session() as session, full_disk_as_error(dest, "the download"):
        for source in sources:
            try:
                parts = _fetch_source(source, staging, session, patience)
            except SourceError as err:
                log.warning("%s: %s", source.label, err)
                failures.append(f"  {source.label}: {err}")
                continue
            _install(parts, dest)
            shutil.rmtree(staging, ignore_errors=True)
            return source
    with contextlib.suppress(OSError):
        staging.rmdir()  # when no partial download is worth keeping
    raise FetchError("could not fetch the dataset from any source:\n" + "\n".join(failures)
                     + f"\n{OFFLINE_HINT}")


def _fetch_source(source: Source, staging: Path, session: requests.Session,
                  patience: Patience) -> dict[str, Path]:
    parts = {}
    for file in source.files:
        try:
            parts[file.name] = _fetch_file(file, staging, session, patience)
        except SourceError as err:
            if file.location == source.label:
                raise
            raise SourceError(f"{file.name}: {err}", err.retryable) from None
    return parts


def _fetch_file(file: RemoteFile, staging: Path, session: requests.Session,
                patience: Patience) -> Path:
    """Download (or resume, or reuse) ``file`` into its ``.part`` file and verify it."""
    staging.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha1(file.location.encode()).hexdigest()[:8]  # a part per URL: no mixing
    part = staging / f"{file.name}.{key}.part"
    if file.expected.md5 is None:
        log.warning("%s: no md5 given: its checksum will not be verified", file.location)
    elif part.is_file() and _verifies(part, file.expected):
        return part  # verified by an earlier run that failed on another file
    try:
        resumed = _with_retries(file, part, session, patience)
        try:
            verify(part, file.expected)
        except SourceError as err:
            part.unlink()
            if not resumed:
                raise
            log.warning("%s: %s after resuming; downloading it again from byte 0",
                        file.location, err)
            _with_retries(file, part, session, patience)
            verify(part, file.expected)
    except SourceError as err:
        # Failed for good (wrong bytes, 404, HTML, ...): nothing kept. Failed for now (a drop,
        # a stall, a 5xx): the partial file stays, and the next run resumes it.
        if not err.retryable:
            part.unlink(missing_ok=True)
        raise
    return part


def verify(path: Path, expected: Expected) -> None:
    size = path.stat().st_size
    if expected.size is not None and size != expected.size:
        raise SourceError(f"size mismatch: got {size} bytes, expected {expected.size}")
    if expected.md5 is not None:
        md5 = file_md5(path)
        if md5 != expected.md5:
            raise SourceError(f"md5 mismatch: got {md5}, expected {expected.md5}")


def _verifies(path: Path, expected: Expected) -> bool:
    try:
        verify(path, expected)
    except SourceError:
        return False
    return True


def file_md5(path: str | Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(COPY_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _with_retries(file: RemoteFile, part: Path, session: requests.Session,
                  patience: Patience) -> bool:
    """Fetch ``file`` into ``part``, retrying with backoff; True if the last try resumed."""
    for attempt in range(patience.retries + 1):
        try:
            return fetch_once(file.location, part, session, patience.timeout_s, file.max_bytes)
        except SourceError as err:
            if not err.retryable or attempt == patience.retries:
                if attempt:
                    raise SourceError(f"{err} (after {attempt + 1} attempts)",
                                      err.retryable) from err
                raise
            delay = patience.backoff_s * 2**attempt
            log.warning("%s: %s; retrying in %.3g s", file.location, err, delay)
            patience.sleep(delay)
    raise AssertionError("unreachable")


def _install(parts: dict[str, Path], dest: Path) -> None:
    """Move verified files into a new folder that then replaces ``dest`` by a rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        for name, part in parts.items():
            os.replace(part, building / name)
        # mkdtemp makes the folder private (0700); outputs get the usual umask-based mode.
        os.chmod(building, 0o777 & ~umask())
        if dest.exists() or dest.is_symlink():
            # rename() cannot replace a non-empty folder: move the old one aside first.
            aside = building.with_name(building.name + ".old")
            os.replace(dest, aside)
            os.replace(building, dest)
            _remove(aside)
        else:
            os.replace(building, dest)
    finally:
        if building.exists():
            shutil.rmtree(building)


def _remove_stale_builds(dest: Path) -> None:
    """Folders a killed run left beside ``dest`` (``.raw.*.tmp``, ``.raw.*.tmp.old``)."""
    for stale in dest.parent.glob(f".{dest.name}.*.tmp*"):
        _remove(stale)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _join(base: str, name: str) -> str:
    if "://" in base:
        return base.rstrip("/") + "/" + name
    return str(Path(base) / name)
