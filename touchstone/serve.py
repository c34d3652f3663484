"""The web server: waitress, which reads each request whole before a thread handles it.

Usage: python -m touchstone.serve [--host 127.0.0.1] [--port 8000] [--threads 8]

A thread-per-request server that hands the socket to the application lets a client hold a
thread for as long as it takes to send its body: a few connections that announce a large
upload and then trickle (or send nothing) take every thread, and readers wait. waitress reads
requests on one event loop and gives a request to a thread only once its headers and body have
arrived, so slow or idle clients cost a socket each, never a thread. On top of that:

- a connection idle for ``TOUCHSTONE_CLIENT_TIMEOUT`` seconds (30) is closed;
- a body announced past the largest upload cap is answered 413 as soon as its headers arrive,
  and a chunked body is cut off when it passes the cap;
- a body announced past the cap of its own URL (``touchstone.uploads.body_cap``: a model upload
  may be 100 MiB, a benchmark draft 500 MiB) but under the largest is read and thrown away as it
  arrives, never buffered: the site then answers the request, headers only, with its usual 413
  (JSON under ``/api/``). A chunked body is cut off with waitress's plain 413 when it passes
  the cap of its URL. waitress keeps a body it does buffer in memory up to 512 KiB and in an
  anonymous temporary file beyond that, so the disk, never the memory, holds at most one
  largest body per open connection, and nothing stays behind when the request ends or the
  process dies.
- at most ``TOUCHSTONE_CONNECTION_LIMIT`` connections (200) are open at once.

Put a reverse proxy (nginx, a cloud load balancer) in front for HTTPS; the README's deployment
section shows how.
"""

from __future__ import annotations

import argparse
import logging
import os
from io import BytesIO

from django.conf import settings
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.receiver import FixedStreamReceiver
from waitress.server import create_server
from waitress.utilities import RequestEntityTooLarge

from touchstone.uploads import FORM_ALLOWANCE_BYTES, body_cap
from touchstone.wsgi import application


class DiscardedBody:
    """A request body buffer that keeps nothing: the body of a request the site will refuse."""

    def append(self, data: bytes) -> None:
        pass

    def getfile(self) -> BytesIO:
        return BytesIO()

    def close(self) -> None:
        pass

    def __len__(self) -> int:
        return 0


class CappedRequestParser(HTTPRequestParser):
    """waitress's request parser, which applies each URL's body cap before buffering anything."""

    completed: bool

    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        if not self.chunked and self.content_length > body_cap(self.path):
            # Read to the end (so the connection stays in step) and keep nothing; the
            # application sees the announced length and refuses it without reading.
            self.body_rcv = FixedStreamReceiver(self.content_length, DiscardedBody())

    def received(self, data: bytes) -> int:
        consumed = super().received(data)
        if self.chunked and not self.completed and self.body_bytes_received > body_cap(self.path):
            self.error = RequestEntityTooLarge(
                f"the body is larger than the {body_cap(self.path)} bytes this URL takes"
            )
            self.completed = True
        return consumed


class CappedChannel(HTTPChannel):
    parser_class = CappedRequestParser


def server_options(*, host: str, port: int, threads: int) -> dict[str, object]:
    """waitress's settings for the site, read from the environment and the upload caps."""
    largest_body = max(settings.MAX_UPLOAD_BYTES, settings.MAX_DRAFT_BYTES) + FORM_ALLOWANCE_BYTES
    return {
        "listen": f"{host}:{port}",
        "threads": threads,
        "channel_timeout": int(os.environ.get("TOUCHSTONE_CLIENT_TIMEOUT", "30")),
        "connection_limit": int(os.environ.get("TOUCHSTONE_CONNECTION_LIMIT", "200")),
        "max_request_body_size": largest_body,
        "max_request_header_size": 64 * 1024,
        # poll() instead of select(): select cannot watch sockets numbered past 1024.
        "asyncore_use_poll": True,
        "cleanup_interval": 5,
        "ident": "touchstone",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("TOUCHSTONE_WEB_THREADS", "8")))
    arguments = parser.parse_args(argv)
    logging.basicConfig()  # as waitress.serve does: its warnings and errors reach stderr
    server = capped_server(
        application, **server_options(host=arguments.host, port=arguments.port, threads=arguments.threads)
    )
    server.print_listen("Serving on http://{}:{}")
    server.run()


def capped_server(app, **options):
    """A waitress server (not yet running) whose connections apply each URL's body cap."""
    server = create_server(app, **options)
    # One listening socket, or several (a name with IPv4 and IPv6 addresses) in one map.
    listeners = [server] if hasattr(server, "channel_class") else list(server.map.values())
    for listener in listeners:
        if hasattr(listener, "channel_class"):
            listener.channel_class = CappedChannel
    return server


if __name__ == "__main__":
    main()
