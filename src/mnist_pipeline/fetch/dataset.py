"""Fill a folder (``data/raw``) from the first source whose every file verifies.

It ends up holding ``mnist.pkl.gz`` or the four idx files, verbatim. A 4xx, an HTML page or a
source out of retries moves on to the next source. Every file is checked against its size and
md5; one that fails after a resume is downloaded once more from byte 0, in case the partial file
was stale. Downloads in progress are ``.part`` files (one per URL) in ``data/.raw.download/``,
beside the output, because DVC deletes ``data/raw`` before it reruns the stage and a resume
needs them: one cut short (a drop, a stall, a 5xx, no network) is kept for the next run, one
that failed for good (wrong bytes, 4xx, HTML) is not. Only when every file of a source has
verified do they move into a new folder that replaces ``data/raw`` by a rename, so ``data/raw``
is complete or absent, never partial.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from mnist_pipeline.core.atomic import full_disk_as_error, umask
from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.fetch.http import Patience, SourceError, download
from mnist_pipeline.fetch.sources import Expected, RemoteFile, Source

log = logging.getLogger(__name__)

OFFLINE_HINT = ("working offline? put the path of a local copy of mnist.pkl.gz in data.mirrors, "
                "or get the dataset from a team remote with `dvc pull data/raw`")


class FetchError(PipelineError, RuntimeError):
    """Every source failed; the message lists each one and why."""


def download_dir(dest: str | Path) -> Path:
    """Where downloads into ``dest`` keep their ``.part`` files: ``data/.raw.download``."""
    dest = Path(dest)
    return dest.parent / f".{dest.name}.download"


def fetch_dataset(sources: Iterable[Source], dest: str | Path,
                  patience: Patience | None = None) -> Source:
    """Fill the folder ``dest`` from the first source whose every file verifies; return it."""
    dest, patience = Path(dest), patience or Patience()
    staging = download_dir(dest)
    _remove_stale_builds(dest)
    failures = []
    with patience.session() as session, full_disk_as_error(dest, "the download"):
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


def _fetch_source(source: Source, staging: Path, session, patience: Patience) -> dict[str, Path]:
    parts = {}
    for file in source.files:
        try:
            parts[file.name] = _fetch_file(file, staging, session, patience)
        except SourceError as err:
            if file.location == source.label:
                raise
            raise SourceError(f"{file.name}: {err}", err.transient) from None  # an idx file
    return parts


def _fetch_file(file: RemoteFile, staging: Path, session, patience: Patience) -> Path:
    """Download (or resume, or reuse) ``file`` into its ``.part`` file and verify it."""
    staging.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha1(file.location.encode()).hexdigest()[:8]  # a part per URL: no mixing
    part = staging / f"{file.name}.{key}.part"
    if file.expected.md5 is None:
        log.warning("%s: no md5 given: its checksum will not be verified", file.location)
    elif part.is_file() and _verifies(part, file.expected):
        return part  # verified by an earlier run that failed on another file
    try:
        resumed = download(file, part, session, patience)
        try:
            verify(part, file.expected)
        except SourceError as err:
            part.unlink()
            if not resumed:
                raise
            log.warning("%s: %s after resuming; downloading it again from byte 0",
                        file.location, err)
            download(file, part, session, patience)
            verify(part, file.expected)
    except SourceError as err:
        # Failed for good (wrong bytes, 404, HTML, ...): nothing kept. Failed for now (a drop,
        # a stall, a 5xx): the partial file stays, and the next run resumes it.
        if not err.transient:
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
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


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
