"""A real worker records itself for the status page and probes the sandbox when it starts."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.services


def get(url: str, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_running_worker_appears_on_the_status_page_and_makes_the_site_healthy(production_site):
    token = production_site.create_researcher("operator")
    deadline = time.monotonic() + 60
    workers: list = []
    health: tuple[int, dict] = (0, {})
    while time.monotonic() < deadline:
        status, body = get(production_site.url + "/api/v1/status/", token)
        assert status == 200, body
        workers = body["workers"]
        health = get(production_site.url + "/healthz")
        if workers and health[0] == 200:
            break
        time.sleep(0.5)
    assert len(workers) == 1, workers
    worker = workers[0]
    assert worker["hostname"] == socket.gethostname() and worker["concurrency"] == 1
    assert not worker["stale"] and worker["last_seen_seconds"] < 30
    # The worker probed the sandbox when it started: no beat is needed for /healthz to pass.
    assert health[0] == 200, health[1]
