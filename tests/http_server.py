"""A real HTTP server on 127.0.0.1 whose answers each test scripts, path by path.

Each path has a queue of behaviours consumed one request at a time (the last one repeats):
``"ok"`` serves the bytes, ``"404"``/``"500"``/... answers with that status, and ``"drop"``
promises the full length, sends half and closes the connection.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ScriptedServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.scripts: dict[str, list[str]] = {}
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

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

    def next_behaviour(self, path: str) -> str:
        with self._lock:
            self.requests.append(path)
            script = self.scripts.get(path)
            if not script:
                return "404"
            return script.pop(0) if len(script) > 1 else script[0]

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                behaviour = server.next_behaviour(self.path)
                payload = server.files.get(self.path, b"")
                if behaviour in ("ok", "drop"):
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if behaviour == "ok":
                        self.wfile.write(payload)
                    else:
                        self.wfile.write(payload[: len(payload) // 2])
                        self.wfile.flush()
                        self.close_connection = True
                    return
                self.send_response(int(behaviour))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        return Handler
