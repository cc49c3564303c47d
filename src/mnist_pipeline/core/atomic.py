"""Atomic, durable file writes: a killed or failed stage never leaves a half-written output, a
power loss never leaves a complete-looking one (the data is on disk before the rename, the
rename before the stage ends), and a full disk is one :class:`OutputWriteError` naming it.

The temporary file is ``.<name>.<random>.tmp`` beside the output; one that a SIGKILL left
behind is removed by the next write of the same output."""

import contextlib
import errno
import glob
import json
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mnist_pipeline.core.errors import PipelineError

FULL = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
        errno.EFBIG: "file too large for this system's limits"}


class OutputWriteError(PipelineError, OSError):
    """An output could not be written because there is no room for it."""


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """A temporary path beside ``dest``, synced and renamed onto it if the block succeeds."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_temporaries(dest)
    tmp = new_temporary(dest)
    try:
        with full_disk_as_error(dest):
            yield tmp
            fsync(tmp)
            os.replace(tmp, dest)
            fsync(dest.parent)
    finally:
        tmp.unlink(missing_ok=True)


def new_temporary(dest: Path, folder: bool = False) -> Path:
    """A new, empty ``.<name>.<random>.tmp`` file (or folder) beside ``dest``, with the usual
    mode for a team sharing a cache: 0666 (0777) less the umask. (mkstemp's private 0600 would
    need the umask read back, and reading it means setting it, for every thread at once.)"""
    for _ in range(100):
        path = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.tmp")
        with contextlib.suppress(FileExistsError):  # taken: draw another name
            if folder:
                os.mkdir(path, 0o777)
            else:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return path
    raise FileExistsError(errno.EEXIST, "no unused temporary name", str(dest))


def remove_temporaries(dest: str | Path) -> None:
    """Remove the temporaries of writes of ``dest`` that a SIGKILL cut short. Only one process
    writes an output at a time (DVC locks the workspace; one rank writes): none is another's."""
    dest = Path(dest)
    for stale in dest.parent.glob(f".{glob.escape(dest.name)}.*.tmp"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale)
        else:
            stale.unlink(missing_ok=True)


def fsync(path: str | Path) -> None:
    """Flush a file's data, or a folder's entries (a rename in it), to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def full_disk_as_error(dest: str | Path, what: str = "it") -> Iterator[None]:
    """A full disk (or quota, or file-size limit) in the block is one line naming ``dest``."""
    try:
        yield
    except OSError as err:
        if err.errno not in FULL:
            raise
        failure = f"{dest}: could not write {what}: {FULL[err.errno]}; nothing was written there"
        raise OutputWriteError(f"{failure}. Free some space and run the stage again") from err


def write_bytes(dest: str | Path, data: bytes | memoryview) -> None:
    """Write ``data``, serialised in memory: a full disk is then a plain, reported OSError."""
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def write_json(dest: str | Path, data: Any) -> None:
    """Write ``data`` as stable, diff-friendly JSON (sorted keys, trailing newline)."""
    write_bytes(dest, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def write_csv(dest: str | Path, header: list[str], rows: Iterable[Iterable[Any]]) -> None:
    lines = [",".join(header)] + [",".join(str(value) for value in row) for row in rows]
    write_bytes(dest, ("\n".join(lines) + "\n").encode())
