"""One try at one file: an HTTP(S) download that resumes, or a copy of a local file.

``fetch`` decides what to fetch, retries and verifies; this module only moves bytes into a
``.part`` file and says, in one short line, what went wrong:

* HTTP resumes after the bytes ``part`` already holds with ``Range: bytes=N-``; a server that
  ignores the range (200) or refuses it (416) is read from byte 0;
* an HTML page where the data should be (a captive portal, an error page, a login wall) is
  refused at its first bytes, naming its content type and how it starts;
* network errors become one line (``cannot reach host (name resolution failed)``, ``timed out
  (no data for 30 s)``, ``connection dropped mid-download``, ...) with whether a retry may help,
  instead of urllib3's nested reprs.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import requests
from tqdm import tqdm
from urllib3.exceptions import ConnectTimeoutError, ProtocolError, ReadTimeoutError

from mnist_pipeline.files import FULL

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 16  # per network read: a dropped stream loses less than this
BUSY = (408, 429)  # request timeout, too many requests: worth another try, like a 5xx
# The bytes as stored: a proxy that compressed them on the way would shift every resume offset.
IDENTITY = {"Accept-Encoding": "identity"}
COPY_CHUNK_BYTES = 1 << 20


class SourceError(Exception):
    """One source failed; ``retryable`` says whether trying it again might help."""

    def __init__(self, reason: str, retryable: bool = False):
        super().__init__(reason)
        self.retryable = retryable


def fetch_once(location: str, part: Path, session: requests.Session, timeout_s: float,
               max_bytes: int | None) -> bool:
    """One try at ``location`` into ``part``; True if it resumed a partial download."""
    scheme = urlparse(location).scheme
    if scheme in ("http", "https"):
        return _download(location, part, session, timeout_s, max_bytes)
    if scheme == "file":
        _copy(Path(unquote(urlparse(location).path)), part)
    elif len(scheme) <= 1:  # a plain path ("" on POSIX, a drive letter on Windows)
        _copy(Path(location), part)
    else:
        raise SourceError(f"unsupported scheme {scheme!r}: use http(s)://, file:// or a path")
    return False


def _download(url: str, part: Path, session: requests.Session, timeout_s: float,
              max_bytes: int | None) -> bool:
    """Append the rest of ``url`` to ``part`` (all of it if the server will not resume)."""
    try:
        response, offset = _request(url, part, session, timeout_s)
        with response:
            if response.status_code >= 500 or response.status_code in BUSY:
                raise SourceError(f"HTTP {response.status_code}", retryable=True)
            if response.status_code >= 400:
                raise SourceError(f"HTTP {response.status_code}")
            chunks = response.iter_content(CHUNK_BYTES)
            first = next(chunks, b"")
            _refuse_html(response.headers.get("Content-Type", ""), first)
            length = response.headers.get("Content-Length", "")
            total = offset + int(length) if length.isdigit() else None
            _write(part, offset, _chain(first, chunks), max_bytes, url, total)
        return offset > 0
    except requests.RequestException as err:
        reason, retryable = network_reason(err, timeout_s)
        raise SourceError(reason, retryable) from err


def _request(url: str, part: Path, session: requests.Session,
             timeout_s: float) -> tuple[requests.Response, int]:
    """GET ``url``, resuming after the bytes ``part`` holds; return the response and its offset.

    The offset is 0 when the server sends the whole file instead (it ignored the range, or
    refused it with 416 and was asked again without one).
    """
    offset = part.stat().st_size if part.is_file() else 0
    if not offset:
        return session.get(url, stream=True, timeout=timeout_s, headers=IDENTITY), 0
    response = session.get(url, stream=True, timeout=timeout_s,
                           headers={**IDENTITY, "Range": f"bytes={offset}-"})
    if response.status_code == 206 and _range_start(response) == offset:
        log.info("%s: resuming after %d bytes", url, offset)
        return response, offset
    if response.status_code not in (206, 416):
        if response.status_code == 200:
            log.info("%s: the server ignored the range; reading from byte 0", url)
        return response, 0
    response.close()
    log.warning("%s: the server would not resume at byte %d (HTTP %d); reading from byte 0",
                url, offset, response.status_code)
    return session.get(url, stream=True, timeout=timeout_s, headers=IDENTITY), 0


def _range_start(response: requests.Response) -> int | None:
    # "bytes 524288-1023999/1024000"
    unit, _, rest = response.headers.get("Content-Range", "").partition(" ")
    start = rest.partition("-")[0]
    return int(start) if unit == "bytes" and start.isdigit() else None


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _write(part: Path, offset: int, chunks: Iterator[bytes], max_bytes: int | None,
           label: str, total: int | None) -> None:
    with open(part, "ab" if offset else "wb") as out, _progress(label, total) as bar:
        bar.update(offset)
        for chunk in chunks:
            out.write(chunk)
            bar.update(len(chunk))
            if max_bytes is not None and out.tell() > max_bytes:
                # A server sending more than the file's size must not fill the disk.
                raise SourceError(f"more than the expected {max_bytes} bytes")


def _refuse_html(content_type: str, first: bytes) -> None:
    """A captive portal, an error page or a login wall answers 200 with HTML: say so."""
    start = first.lstrip()[:9].lower()
    if "text/html" in content_type.lower() or start.startswith((b"<!doctype", b"<html")):
        raise SourceError(f"got an HTML page ({content_type or 'no Content-Type'}) "
                          f"starting {printable(first)!r}")


def printable(data: bytes, limit: int = 60) -> str:
    """The start of ``data`` as one line of printable text, for messages."""
    text = " ".join(data[: limit * 4].decode("utf-8", "replace").split())
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= limit else text[:limit] + "..."


def network_reason(err: requests.RequestException, timeout_s: float) -> tuple[str, bool]:
    """One short line for what went wrong on the network, and whether a retry might help."""
    causes = list(_causes(err))
    if any(isinstance(c, socket.gaierror) for c in causes):
        return "cannot reach host (name resolution failed)", False
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return "cannot reach host (connection refused)", True
    if any(isinstance(c, (ConnectTimeoutError, requests.ConnectTimeout)) for c in causes):
        return f"cannot reach host (timed out after {timeout_s:g} s)", True
    if any(isinstance(c, (ReadTimeoutError, requests.ReadTimeout)) for c in causes):
        return f"timed out (no data for {timeout_s:g} s)", True
    if any(isinstance(c, (ProtocolError, requests.exceptions.ChunkedEncodingError))
           for c in causes):
        return "connection dropped mid-download", True
    if isinstance(err, requests.exceptions.SSLError):
        return "TLS error (a proxy or a wrong clock?)", False
    detail = (str(err).splitlines() or [""])[0][:120]
    return f"{type(err).__name__}: {detail}", isinstance(err, requests.ConnectionError)


def _causes(err: BaseException) -> Iterator[BaseException]:
    """``err`` and everything it wraps: causes, contexts, urllib3's ``reason``, exception args."""
    seen, stack = set(), [err]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [current.__cause__, current.__context__, getattr(current, "reason", None),
                   *current.args]
        stack.extend(w for w in wrapped if isinstance(w, BaseException))


def _copy(path: Path, part: Path) -> None:
    if not path.is_file():
        raise SourceError("no such file")
    try:
        with open(path, "rb") as src, open(part, "wb") as out, \
                _progress(str(path), path.stat().st_size) as bar:
            while chunk := src.read(COPY_CHUNK_BYTES):
                out.write(chunk)
                bar.update(len(chunk))
    except OSError as err:
        if err.errno in FULL:
            raise  # the disk, not this source: trying others would not help
        raise SourceError(f"{type(err).__name__}: {err}") from err


def _progress(label: str, total: int | None) -> tqdm:
    # disable=None: a bar on a terminal, silence in logs and CI.
    return tqdm(
        total=total, desc=Path(urlparse(label).path).name or label, unit="B",
        unit_scale=True, unit_divisor=1024, disable=None, leave=False,
    )
