"""Slow and idle clients cannot starve readers of the web server ``make run`` starts.

Sixteen connections announce a 50 MB upload (under the cap) and then trickle a few bytes or
send nothing, the way a slow mobile link or a slowloris attack does. While they hang on, twenty
readers fetch the benchmark list one after another: each must answer within a few seconds. A
server that hands the socket to a thread before the body has arrived (gunicorn's threaded
worker, four threads) fails this: the uploads hold every thread and the readers time out.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.services import ROOT, free_port, site_environment, stop, wait_for

# Its times matter (a deadline, a latency bound or measured figures): under pytest-xdist it runs
# on one worker with the other files of the "timed" group, never beside them (tests/parallel.py).
pytestmark = [pytest.mark.services, pytest.mark.xdist_group("timed")]

SLOW_CLIENTS = 16
READERS = 20
READER_TIMEOUT = 5.0


@pytest.fixture
def web_server(tmp_path):
    env = site_environment(tmp_path, database_url=None, broker_url=None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    port = free_port()
    log = open(tmp_path / "web.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "touchstone.serve", "--host", "127.0.0.1", "--port", str(port), "--threads", "4"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: urllib.request.urlopen(url + "/api/v1/benchmarks/", timeout=2).status == 200,
            timeout=60,
            what="the web server",
            process=process,
        )
        yield port, url
    finally:
        stop(process)
        log.close()


def slow_upload(port: int, index: int) -> socket.socket:
    """A connection that announces a 50 MB multipart upload and sends its first bytes only."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = (
        "POST /api/v1/submissions/ HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        f"Content-Length: {50 * 1024 * 1024}\r\n"
        "Content-Type: multipart/form-data; boundary=slow\r\n"
        "\r\n"
    )
    connection.sendall(head.encode() + (b"--slow\r\n" if index % 2 else b""))
    return connection


def test_sixteen_slow_uploads_do_not_make_readers_wait(web_server):
    port, url = web_server
    slow = [slow_upload(port, index) for index in range(SLOW_CLIENTS)]
    try:
        time.sleep(1.0)  # let every slow connection reach the server
        durations = []
        for _ in range(READERS):
            # Half of the slow clients trickle one more byte now and then, to stay active.
            for connection in slow[::2]:
                connection.sendall(b"x")
            started = time.monotonic()
            with urllib.request.urlopen(url + "/api/v1/benchmarks/", timeout=READER_TIMEOUT) as response:
                assert response.status == 200
            durations.append(time.monotonic() - started)
        print(f"readers: {READERS}, slowest {max(durations):.3f} s, median {sorted(durations)[READERS // 2]:.3f} s")
        assert max(durations) < 2.0
    finally:
        for connection in slow:
            connection.close()


def test_a_body_announced_past_the_cap_is_refused_at_once_without_reading_it(web_server):
    port, _ = web_server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(
            b"POST /api/v1/submissions/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Length: 2147483648\r\nContent-Type: multipart/form-data; boundary=x\r\n\r\n--x\r\n"
        )
        started = time.monotonic()
        answer = connection.recv(4096)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert time.monotonic() - started < 2.0
