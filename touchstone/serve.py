"""The web server: waitress, which reads each request whole before a thread handles it.

Usage: python -m touchstone.serve [--host 127.0.0.1] [--port 8000] [--threads 8]

A thread-per-request server that hands the socket to the application lets a client hold a
thread for as long as it takes to send its body: a few connections that announce a large
upload and then trickle (or send nothing) take every thread, and readers wait. waitress reads
requests on one event loop and gives a request to a thread only once its headers and body have
arrived, so slow or idle clients cost a socket each, never a thread. On top of that:

- a connection idle for ``TOUCHSTONE_CLIENT_TIMEOUT`` seconds (30) is closed;
- a body announced past the largest upload cap is answered 413 as soon as its headers arrive,
  and a chunked body is cut off when it passes the cap (``touchstone.uploads`` then applies the
  cap of the URL);
- at most ``TOUCHSTONE_CONNECTION_LIMIT`` connections (200) are open at once.

Put a reverse proxy (nginx, a cloud load balancer) in front for HTTPS; the README's deployment
section shows how.
"""

from __future__ import annotations

import argparse
import os

from django.conf import settings
from waitress import serve

from touchstone.uploads import FORM_ALLOWANCE_BYTES
from touchstone.wsgi import application


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
    serve(application, **server_options(host=arguments.host, port=arguments.port, threads=arguments.threads))


if __name__ == "__main__":
    main()
