"""Following a submission survives a site that restarts, with backoff, and gives up in bounded time."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from evaluation.backoff import Backoff
from evaluation.client import ClientError, TouchstoneClient
from tests.evaluation.fake_site import fake_site, json_route

QUICK = Backoff(first_seconds=0.05, cap_seconds=0.2, give_up_seconds=10.0)
SUBMISSION = "/api/v1/submissions/7/"


def test_the_wait_doubles_after_each_failure_up_to_its_cap():
    backoff = Backoff(first_seconds=1.0, cap_seconds=30.0)
    assert [backoff.delay(n) for n in range(1, 8)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


@pytest.mark.parametrize("failure", [503, 502, 500, "drop"])
def test_polling_goes_on_through_failures_and_says_what_it_does(failure):
    said: list[str] = []
    route = json_route({"status": "scored"}, failures=3, failure=failure)
    with fake_site({SUBMISSION: route}) as site:
        client = TouchstoneClient(site.url, backoff=QUICK, say=said.append)
        assert client.wait(7, poll_seconds=0.01)["status"] == "scored"
    assert site.count(SUBMISSION) == 4
    assert len(said) == 3
    assert all("following submission 7" in line and "trying again in" in line for line in said)
    assert "0.05 s" in said[0] and "0.1 s" in said[1] and "0.2 s" in said[2]


def test_polling_goes_on_while_the_site_refuses_connections():
    # The port is free when the client first tries it, and served a moment later.
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    said: list[str] = []
    done = threading.Event()

    def serve_later() -> None:
        time.sleep(0.3)
        with fake_site({SUBMISSION: json_route({"status": "failed", "error": "x"})}, port=port):
            done.wait(10)

    threading.Thread(target=serve_later, daemon=True).start()
    client = TouchstoneClient(f"http://127.0.0.1:{port}", backoff=QUICK, say=said.append)
    try:
        assert client.wait(7, poll_seconds=0.01)["status"] == "failed"
    finally:
        done.set()
    assert said and "Connection refused" in said[0]


def test_polling_gives_up_with_a_clear_message_after_the_bounded_time():
    said: list[str] = []
    patience = Backoff(first_seconds=0.05, cap_seconds=0.1, give_up_seconds=0.5)
    route = json_route({"status": "scored"}, failures=1000, failure=503)
    with fake_site({SUBMISSION: route}) as site:
        client = TouchstoneClient(site.url, backoff=patience, say=said.append)
        started = time.monotonic()
        with pytest.raises(ClientError, match=r"gave up following submission 7 after \d+ failed attempts") as raised:
            client.wait(7, poll_seconds=0.01)
        elapsed = time.monotonic() - started
    assert elapsed < 2.0
    assert "HTTP 503" in str(raised.value)
    assert 3 <= len(said) <= 10


def test_a_refusal_is_not_retried():
    said: list[str] = []
    with fake_site({}) as site:
        client = TouchstoneClient(site.url, backoff=QUICK, say=said.append)
        with pytest.raises(ClientError, match="HTTP 404"):
            client.wait(7, poll_seconds=0.01)
    assert site.count(SUBMISSION) == 1 and said == []
