"""Download ``mnist.pkl.gz`` from the first source that delivers the right bytes.

Sources are tried in order: ``data.url``, then each of ``data.mirrors`` (``http(s)://``,
``file://`` or a plain path). HTTP downloads stream through ``requests`` with timeouts; a
connection error, a dropped stream or a 5xx answer is retried with exponential backoff, while
any other error status (404, 403, ...) moves on to the next source at once. Every download goes
to a temporary file beside the destination and is checked against ``data.size`` and
``data.md5`` before it is renamed into place, so a failed fetch leaves no output.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import requests
from tqdm import tqdm

from mnist_pipeline.errors import PipelineError
from mnist_pipeline.files import atomic_path

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20


class FetchError(PipelineError, RuntimeError):
    """Every source failed; the message lists each one and why."""


class SourceError(Exception):
    """One source failed; ``retryable`` says whether trying it again might help."""

    def __init__(self, reason: str, retryable: bool = False):
        super().__init__(reason)
        self.retryable = retryable


@dataclass(frozen=True)
class Expected:
    """What the downloaded file must be; ``None`` skips that check."""

    size: int | None
    md5: str | None


def fetch_dataset(
    sources: Iterable[str],
    dest: str | Path,
    expected: Expected,
    timeout_s: float = 30.0,
    retries: int = 3,
    retry_backoff_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Fetch into ``dest`` from the first good source and return that source."""
    if expected.md5 is None:
        log.warning("data.md5 is null: the download's checksum will not be verified")
    failures = []
    with requests.Session() as session:
        for source in sources:
            try:
                with atomic_path(dest) as tmp:
                    _fetch_with_retries(
                        source, tmp, session, timeout_s, retries, retry_backoff_s, sleep,
                        expected.size,
                    )
                    verify(tmp, expected)
                return source
            except SourceError as err:
                log.warning("%s: %s", source, err)
                failures.append(f"  {source}: {err}")
    raise FetchError("could not fetch the dataset from any source:\n" + "\n".join(failures))


def verify(path: Path, expected: Expected) -> None:
    size = path.stat().st_size
    if expected.size is not None and size != expected.size:
        raise SourceError(f"size mismatch: got {size} bytes, expected {expected.size}")
    if expected.md5 is not None:
        md5 = file_md5(path)
        if md5 != expected.md5:
            raise SourceError(f"md5 mismatch: got {md5}, expected {expected.md5}")


def file_md5(path: str | Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch_with_retries(source, tmp, session, timeout_s, retries, backoff_s, sleep,
                        size_limit) -> None:
    for attempt in range(retries + 1):
        try:
            _fetch_once(source, tmp, session, timeout_s, size_limit)
            return
        except SourceError as err:
            if not err.retryable or attempt == retries:
                if attempt:
                    raise SourceError(f"{err} (after {attempt + 1} attempts)") from err
                raise
            delay = backoff_s * 2**attempt
            log.warning("%s: %s; retrying in %.1f s", source, err, delay)
            sleep(delay)


def _fetch_once(source: str, tmp: Path, session: requests.Session, timeout_s: float,
                size_limit: int | None) -> None:
    scheme = urlparse(source).scheme
    if scheme in ("http", "https"):
        _download(source, tmp, session, timeout_s, size_limit)
    elif scheme == "file":
        _copy(Path(unquote(urlparse(source).path)), tmp)
    elif len(scheme) <= 1:  # a plain path ("" on POSIX, a drive letter on Windows)
        _copy(Path(source), tmp)
    else:
        raise SourceError(f"unsupported scheme {scheme!r}: use http(s)://, file:// or a path")


def _download(url: str, tmp: Path, session: requests.Session, timeout_s: float,
              size_limit: int | None) -> None:
    try:
        with session.get(url, stream=True, timeout=timeout_s) as response:
            if response.status_code >= 500:
                raise SourceError(f"HTTP {response.status_code}", retryable=True)
            if response.status_code >= 400:
                raise SourceError(f"HTTP {response.status_code}")
            length = response.headers.get("Content-Length", "")
            total = int(length) if length.isdigit() else None
            with open(tmp, "wb") as out, _progress(url, total) as bar:
                for chunk in response.iter_content(CHUNK_BYTES):
                    out.write(chunk)
                    bar.update(len(chunk))
                    if size_limit is not None and out.tell() > size_limit:
                        # A server sending more than the file's size must not fill the disk.
                        raise SourceError(f"more than the expected {size_limit} bytes")
    except (requests.ConnectionError, requests.Timeout) as err:
        raise SourceError(f"{type(err).__name__}: {err}", retryable=True) from err
    except requests.exceptions.ChunkedEncodingError as err:
        raise SourceError(f"connection dropped mid-download: {err}", retryable=True) from err
    except requests.RequestException as err:
        raise SourceError(f"{type(err).__name__}: {err}") from err


def _copy(path: Path, tmp: Path) -> None:
    if not path.is_file():
        raise SourceError("no such file")
    try:
        with open(path, "rb") as src, open(tmp, "wb") as out, _progress(str(path), None) as bar:
            while chunk := src.read(CHUNK_BYTES):
                out.write(chunk)
                bar.update(len(chunk))
    except OSError as err:
        raise SourceError(f"{type(err).__name__}: {err}") from err


def _progress(label: str, total: int | None) -> tqdm:
    # disable=None: a bar on a terminal, silence in logs and CI.
    return tqdm(
        total=total, desc=Path(urlparse(label).path).name or label, unit="B",
        unit_scale=True, unit_divisor=1024, disable=None, leave=False,
    )
