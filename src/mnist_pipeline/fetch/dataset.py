"""Fill a folder (``data/raw``) from the first source whose every file verifies (size, md5):
``data.url``, then ``data.mirrors`` (``mnist.pkl.gz`` at a URL or path, or the idx files).

Partial downloads wait in ``data/.raw.download/`` (DVC deletes ``data/raw`` before a rerun):
one cut short is resumed by the next run, one that failed for good is deleted. Verified files
move into a new folder that replaces ``data/raw`` by one rename: complete or absent."""

import contextlib
import hashlib
import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mnist_pipeline.core.atomic import fsync, full_disk_as_error, new_temporary, remove_temporaries
from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.core.names import IDX_FILES, PICKLE_NAME
from mnist_pipeline.core.params import DataParams
from mnist_pipeline.fetch.http import Patience, SourceError, download

log = logging.getLogger(__name__)

OFFLINE_HINT = ("working offline? put the path of a local copy of mnist.pkl.gz in data.mirrors, "
                "or get the dataset from a team remote with `dvc pull data/raw`")


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
    files = tuple(RemoteFile(name, f"{base.rstrip('/')}/{name}", Expected(None, md5[name]),
                             IDX_MAX_BYTES) for name in IDX_FILES.values())
    return Source(base, files)


def dataset_sources(data: DataParams) -> list[Source]:
    expected = Expected(data.size, data.md5)
    return [pickle_source(data.url, expected)] + [
        pickle_source(mirror.url, expected) if mirror.format == "pickle"
        else idx_source(mirror.url, mirror.md5.model_dump(by_alias=True))
        for mirror in data.mirrors or []
    ]


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
    remove_temporaries(dest)  # folders a killed run left beside dest
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
    elif part.is_file():
        with contextlib.suppress(SourceError):
            verify(part, file.expected)
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
        # Failed for good (wrong bytes, 404, HTML): nothing kept; for now: resumed next run.
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


def file_md5(path: str | Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest()


def _install(parts: dict[str, Path], dest: Path) -> None:
    """Move verified files into a new folder that then replaces ``dest`` by a rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    building = new_temporary(dest, folder=True)  # the usual mode, unlike mkdtemp's 0700
    try:
        for name, part in parts.items():
            fsync(part)  # on the disk before a name says it is complete
            os.replace(part, building / name)
        fsync(building)
        if dest.exists() or dest.is_symlink():
            # rename() cannot replace a non-empty folder: move the old one aside first.
            os.replace(dest, building.with_suffix(".old.tmp"))
        os.replace(building, dest)
        fsync(dest.parent)
    finally:
        remove_temporaries(dest)  # the old folder; after a failure, the new one
