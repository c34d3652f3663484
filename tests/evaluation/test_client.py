"""The command-line client's HTTP behaviour against a small local server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from evaluation.client import ClientError, TouchstoneClient


def _serve(answers: list[tuple[int, dict[str, str]]]):
    """A server answering GET and POST with ``answers`` in turn (the last one repeats)."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append(self.command)
            status, headers = answers[min(len(seen), len(answers)) - 1]
            body = json.dumps({"detail": "slow down"} if status == 429 else {"status": "queued"}).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def test_a_throttled_read_is_retried_after_the_wait_the_site_names():
    server, seen = _serve([(429, {"Retry-After": "0.2"}), (429, {"Retry-After": "0.2"}), (200, {})])
    try:
        client = TouchstoneClient(f"http://127.0.0.1:{server.server_port}")
        assert client.submission(7) == {"status": "queued"}
    finally:
        server.shutdown()
    assert seen == ["GET", "GET", "GET"]


def test_a_throttled_upload_is_not_sent_twice():
    server, seen = _serve([(429, {"Retry-After": "0.1"}), (200, {})])
    try:
        client = TouchstoneClient(f"http://127.0.0.1:{server.server_port}")
        with pytest.raises(ClientError, match="HTTP 429"):
            client._request("POST", "submissions/", body=b"{}", headers={"Content-Type": "application/json"})
    finally:
        server.shutdown()
    assert seen == ["POST"]
