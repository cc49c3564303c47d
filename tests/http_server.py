"""A real HTTP server on 127.0.0.1 whose answers each test scripts, path by path.

Each path has a queue of behaviours consumed one request at a time (the last one repeats):

* ``"ok"`` serves the bytes, honouring a ``Range: bytes=N-`` request with 206 and
  ``Content-Range`` as S3 and GitHub do (a range past the end gets 416);
* ``"ignore-range"`` always answers 200 with the whole body, whatever range was asked for;
* ``"drop"`` promises the full length (of the range asked for), sends half and closes;
* ``"stall"`` promises the full length, sends half, then sends nothing for ``stall_s`` seconds;
* ``"html"`` answers 200 with a captive portal's sign-in page (``text/html``);
* ``"busy"`` answers 503 with ``Retry-After: 2``;
* ``"404"``, ``"416"``, ``"500"``, ... answer with that status and no body.

``requests`` lists every path asked for, ``ranges`` each request's ``Range`` header (or None).
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HTML_PAGE = (b"<!doctype html><html><head><title>Sign in to Example Wi-Fi</title></head>"
             b"<body><form action='/login'>...</form></body></html>\n")
RANGE = re.compile(r"^bytes=(\d+)-$")


class ScriptedServer:
    def __init__(self, stall_s: float = 5.0) -> None:
        self.files: dict[str, bytes] = {}
        self.scripts: dict[str, list[str]] = {}
        self.requests: list[str] = []
        self.ranges: list[tuple[str, str | None]] = []
        self.stall_s = stall_s
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        # A short poll interval: stop() waits for the loop to notice, 0.5 s by default.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def serve(self, path: str, payload: bytes, *behaviours: str) -> str:
        path = "/" + path.lstrip("/")
        with self._lock:
            self.files[path] = payload
            self.scripts[path] = list(behaviours or ["ok"])
        return self.url(path)

    def ranges_for(self, path: str) -> list[str | None]:
        """The ``Range`` header of each request for ``path``, in order (None: no header)."""
        path = "/" + path.lstrip("/")
        return [header for asked, header in self.ranges if asked == path]

    def next_behaviour(self, path: str, range_header: str | None) -> str:
        with self._lock:
            self.requests.append(path)
            self.ranges.append((path, range_header))
            script = self.scripts.get(path)
            if not script:
                return "404"
            return script.pop(0) if len(script) > 1 else script[0]

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends any stall at once
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                range_header = self.headers.get("Range")
                behaviour = server.next_behaviour(self.path, range_header)
                payload = server.files.get(self.path, b"")
                if behaviour == "html":
                    self._send(200, HTML_PAGE, "text/html; charset=utf-8")
                elif behaviour == "busy":
                    self._send(503, b"", headers={"Retry-After": "2"})
                elif behaviour == "ignore-range":
                    self._send(200, payload)
                elif behaviour in ("ok", "drop", "stall"):
                    self._serve_bytes(payload, range_header, behaviour)
                else:
                    self._send(int(behaviour), b"")

            def _serve_bytes(self, payload: bytes, range_header: str | None,
                             behaviour: str) -> None:
                match = RANGE.match(range_header or "")
                start = int(match.group(1)) if match else 0
                if start and start >= len(payload):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(payload)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = payload[start:]
                self.send_response(206 if match else 200)
                if match:
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(payload) - 1}/{len(payload)}")
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if behaviour == "ok":
                    self.wfile.write(body)
                    return
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                if behaviour == "stall":
                    server._stopping.wait(server.stall_s)
                self.close_connection = True

            def _send(self, status: int, body: bytes,
                      content_type: str = "application/octet-stream",
                      headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        return Handler
