"""One file into its ``.part`` file: an HTTP(S) download, or a copy of a local file. Retries,
backoff and ``Retry-After`` are urllib3's ``Retry`` on the ``requests`` session; hand-written,
as no library does it: resuming a body cut mid-stream with ``Range``, refusing an HTML page,
and one short line per failure instead of urllib3's reprs."""

from __future__ import annotations

import itertools
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import requests
from requests.adapters import HTTPAdapter
from tqdm import tqdm
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from mnist_pipeline.core.atomic import FULL
from mnist_pipeline.core.errors import one_line

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 16  # per network read: a dropped stream loses less than this
RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
# The bytes as stored: a proxy that compressed them on the way would shift every resume offset.
IDENTITY = {"Accept-Encoding": "identity"}


class SourceError(Exception):
    """One source failed; ``transient``: a later run may succeed (a partial file is kept)."""

    def __init__(self, reason: str, transient: bool = False):
        super().__init__(reason)
        self.transient = transient


class Retries(Retry):
    """urllib3's ``Retry``, logging each retry in one line."""

    def increment(self, method=None, url=None, response=None, error=None, _pool=None,
                  _stacktrace=None) -> Retries:
        if isinstance(error, NameResolutionError):  # the resolver has retried already
            raise MaxRetryError(_pool, url, error) from error
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        if _pool is not None:
            url = f"{_pool.scheme}://{_pool.host}:{_pool.port}{url}"
        why = f"HTTP {response.status}" if response is not None else reason_of(error)
        delay = response is not None and new.get_retry_after(response) or new.get_backoff_time()
        log.warning("%s: %s; retrying in %.3g s", url, why, delay)
        return new


@dataclass(frozen=True)
class Patience:
    timeout_s: float = 30.0  # per connect and per read, not for the whole file
    retries: int = 3  # per request, and per file for resumes of a cut body
    backoff_s: float = 1.0  # urllib3's backoff factor: no wait, then 2x, 4x, ... this

    def retry(self) -> Retries:
        return Retries(total=self.retries, backoff_factor=self.backoff_s,
                       status_forcelist=RETRY_STATUSES, raise_on_status=False)

    def session(self) -> requests.Session:
        session = requests.Session()
        for scheme in ("http://", "https://"):
            session.mount(scheme, HTTPAdapter(max_retries=self.retry()))
        return session


def download(file, part: Path, session: requests.Session, patience: Patience) -> bool:
    """Fetch ``file`` (a ``dataset.RemoteFile``) into ``part``; True if its last try resumed."""
    scheme = urlparse(file.location).scheme
    if scheme in ("http", "https"):
        return _download(file, part, session, patience)
    if scheme not in ("file", "") and len(scheme) > 1:  # a drive letter is a plain path
        raise SourceError(f"unsupported scheme {scheme!r}: use http(s)://, file:// or a path")
    path = Path(unquote(urlparse(file.location).path) if scheme == "file" else file.location)
    if not path.is_file():
        raise SourceError("no such file")
    try:
        shutil.copyfile(path, part)
    except OSError as err:
        if err.errno in FULL:
            raise  # the disk, not this source: trying others would not help
        raise SourceError(f"{type(err).__name__}: {err}") from err
    return False


def _download(file, part: Path, session: requests.Session, patience: Patience) -> bool:
    retry, attempts = patience.retry(), 1
    while True:
        try:
            response, offset = _request(file.location, part, session, patience.timeout_s)
        except requests.RequestException as err:  # urllib3 has retried it already
            cause = _cause(err)
            retried = isinstance(cause, MaxRetryError) and not isinstance(cause.reason,
                                                                          NameResolutionError)
            raise SourceError(reason_of(err, patience.timeout_s)
                              + _after(patience.retries + 1 if retried else 1),
                              transient=isinstance(err, (requests.ConnectionError,
                                                         requests.Timeout))) from err
        try:
            return _get(file, part, response, offset)
        except requests.RequestException as err:  # cut mid-body: the next try resumes it
            cut = _cause(err)  # urllib3's reason: a ProtocolError or a ReadTimeoutError
            try:
                retry = retry.increment("GET", file.location, error=cut)
            except MaxRetryError:
                raise SourceError(reason_of(cut, patience.timeout_s) + _after(attempts),
                                  transient=True) from None
            attempts += 1
            retry.sleep()


def _get(file, part: Path, response: requests.Response, offset: int) -> bool:
    """Append ``response``'s body to ``part``'s first ``offset`` bytes; True if it resumed."""
    with response:
        if response.status_code >= 400:
            tries = len(response.raw.retries.history) + 1 if response.raw.retries else 1
            raise SourceError(f"HTTP {response.status_code}" + _after(tries),
                              transient=response.status_code in RETRY_STATUSES)
        chunks = response.iter_content(CHUNK_BYTES)
        length = response.headers.get("Content-Length", "")
        total = offset + int(length) if length.isdigit() else None
        first = next(chunks, b"")
        _refuse_html(response.headers.get("Content-Type", ""), first)
        # disable=None: a bar on a terminal, silence in logs and CI.
        with open(part, "ab" if offset else "wb") as f, tqdm.wrapattr(
                f, "write", total=total, initial=offset, desc=file.name, disable=None,
                leave=False) as out:
            for chunk in itertools.chain((first,), chunks):
                out.write(chunk)  # and moves the bar
                if file.max_bytes is not None and out.tell() > file.max_bytes:
                    # A server sending more than the file's size must not fill the disk.
                    raise SourceError(f"more than the expected {file.max_bytes} bytes")
    return offset > 0


def _request(url: str, part: Path, session: requests.Session,
             timeout_s: float) -> tuple[requests.Response, int]:
    """GET ``url``, resuming after the bytes ``part`` holds; the response and its offset (0 when
    the server sends the whole file: it ignored the range, or refused it with 416)."""
    offset = part.stat().st_size if part.is_file() else 0
    if not offset:
        return session.get(url, stream=True, timeout=timeout_s, headers=IDENTITY), 0
    response = session.get(url, stream=True, timeout=timeout_s,
                           headers={**IDENTITY, "Range": f"bytes={offset}-"})
    # "Content-Range: bytes 524288-1023999/1024000"
    unit, _, rest = response.headers.get("Content-Range", "").partition(" ")
    if response.status_code == 206 and unit == "bytes" and rest.startswith(f"{offset}-"):
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


def _refuse_html(content_type: str, first: bytes) -> None:
    """A captive portal, an error page or a login wall answers 200 with HTML: say so."""
    start = first.lstrip()[:9].lower()
    if "text/html" in content_type.lower() or start.startswith((b"<!doctype", b"<html")):
        text = one_line(first[:240].decode("utf-8", "replace"), limit=60)
        text = "".join(c if c.isprintable() else "?" for c in text)
        raise SourceError(f"got an HTML page ({content_type or 'no Content-Type'}) "
                          f"starting {text!r}")


def reason_of(err: BaseException | None, timeout_s: float | None = None) -> str:
    """One short line for a network error (requests' or urllib3's)."""
    cause = _cause(err) if isinstance(err, requests.RequestException) else err
    cause = cause.reason if isinstance(cause, MaxRetryError) else cause
    if isinstance(cause, NameResolutionError):
        return "cannot reach host (name resolution failed)"
    if isinstance(cause, NewConnectionError):
        return ("cannot reach host (connection refused)" if "refused" in str(cause)
                else f"cannot reach host ({_first_line(cause)})")
    if isinstance(cause, ConnectTimeoutError) or isinstance(err, requests.ConnectTimeout):
        return "cannot reach host (timed out" + (f" after {timeout_s:g} s)" if timeout_s else ")")
    if isinstance(cause, ReadTimeoutError) or isinstance(err, requests.ReadTimeout):
        return f"timed out (no data for {timeout_s:g} s)" if timeout_s else "timed out"
    if isinstance(cause, ProtocolError):
        return "connection dropped mid-download"
    if isinstance(err, requests.exceptions.SSLError):
        return "TLS error (a proxy or a wrong clock?)"
    return f"{type(err).__name__}: {_first_line(err)}"


def _cause(err: requests.RequestException) -> BaseException:
    """The urllib3 exception requests wraps (its first argument), else ``err`` itself."""
    return err.args[0] if err.args and isinstance(err.args[0], BaseException) else err


def _first_line(err: BaseException) -> str:
    return (str(err).splitlines() or [""])[0][:120]


def _after(attempts: int) -> str:
    return f" (after {attempts} attempts)" if attempts > 1 else ""

