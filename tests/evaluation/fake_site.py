"""A tiny HTTP server standing in for a Touchstone site in the client's tests.

It answers fixed routes, and can fail the first requests of a route (an error status, or a
connection closed without an answer) the way a restarting site or a proxy does.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import evaluation

ABOUT = {
    "name": "Touchstone",
    "version": evaluation.__version__,
    "evaluator_version": evaluation.EVALUATOR_VERSION,
    "api": "v1",
    "max_upload_bytes": 100 * 1024 * 1024,
    "evaluation_batch_size": 256,
    "sandbox_memory_bytes": 3072 * 1024 * 1024,
}


@dataclass
class Route:
    body: bytes
    content_type: str = "application/json"
    status: int = 200
    failures: int = 0
    """How many of the first requests fail."""
    failure: int | str = 503
    """The status of a failed request, or "drop" to close the connection without an answer."""


def json_route(payload: object, **options: object) -> Route:
    return Route(json.dumps(payload).encode(), **options)  # type: ignore[arg-type]


@dataclass
class FakeSite:
    routes: dict[str, Route]
    url: str = ""
    seen: list[tuple[str, str]] = field(default_factory=list)
    bodies: list[tuple[int, str, bytes]] = field(default_factory=list)
    """Each request body's length, sha256 and first 64 KiB (bodies are read in chunks, never whole)."""

    def count(self, path: str) -> int:
        return sum(1 for _, seen in self.seen if seen == path)


@contextmanager
def fake_site(routes: dict[str, Route], *, port: int = 0):
    """Serve ``routes`` (paths under the site's root) on ``port`` (a free one by default) while the block runs."""
    site = FakeSite(routes)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            path = self.path.split("?")[0]
            length = int(self.headers.get("Content-Length") or 0)
            digest, head, left = hashlib.sha256(), b"", length
            while left:
                chunk = self.rfile.read(min(left, 1 << 20))
                if not chunk:
                    break
                left -= len(chunk)
                digest.update(chunk)
                head = (head + chunk)[: 64 * 1024] if len(head) < 64 * 1024 else head
            with lock:
                site.seen.append((self.command, path))
                site.bodies.append((length - left, digest.hexdigest(), head))
                route = site.routes.get(path)
                calls = site.count(path)
            if route is None:
                self._send(404, b"<html>not here</html>", "text/html")
            elif calls <= route.failures and route.failure == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            elif calls <= route.failures:
                self._send(int(route.failure), b"<html>bad gateway</html>", "text/html")
            else:
                self._send(route.status, route.body, route.content_type)

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    site.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
