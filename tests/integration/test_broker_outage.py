"""Uploads made while Redis is down are accepted, kept, and scored once it is back.

A real site (the supervised worker with its periodic tasks, and the web server) talks to a real
Redis; Redis is killed, two uploads arrive through the API, and Redis is started again on the
same port. Both uploads must have answered 201 at once, and both must end scored, each once.
"""

from __future__ import annotations

import shutil
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from evaluation.client import TouchstoneClient
from tests.services import free_port, stop, supervised_site, wait_for

pytestmark = pytest.mark.services

WAITING = "waiting for the queue"


def start_redis(port: int, folder: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            *("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def ping() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")

    wait_for(ping, timeout=15, what="redis-server", process=process)
    return process


def runs_per_submission(site) -> dict[int, int]:
    with sqlite3.connect(Path(site.env["TOUCHSTONE_DATA_DIR"]) / "touchstone.sqlite3", timeout=30) as database:
        return dict(
            database.execute(
                "select submission_id, count(*) from submissions_evaluationrun where outcome = 'scored' "
                "group by submission_id"
            )
        )


def test_uploads_made_while_redis_is_down_are_accepted_and_scored_once_it_is_back(tmp_path, digits_folder, model_files):
    port = free_port()
    redis = start_redis(port, tmp_path)
    env = {
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0",
        "TOUCHSTONE_PUBLISH_SECONDS": "2",
        "TOUCHSTONE_UNSENT_GRACE_SECONDS": "0",
        "TOUCHSTONE_SANDBOX_WALL_SECONDS": "30",
    }
    try:
        with supervised_site(tmp_path / "site", benchmarks=[digits_folder], extra_env=env) as site:
            client = TouchstoneClient(site.url, site.create_researcher("ada"), timeout=60)
            stop(redis)
            accepted = []
            for name in ("strong", "weak"):
                started = time.monotonic()
                body = client.submit(benchmark="digits", version="1.0.0", model_file=model_files[name], model_name=name)
                assert time.monotonic() - started < 15, "the upload waited on the broker"
                assert body["status"] == "queued" and body["progress_message"].startswith(WAITING)
                accepted.append(body["id"])
            redis = start_redis(port, tmp_path)
            finished = {pk: client.wait(pk, timeout=240) for pk in accepted}
            assert {pk: state["status"] for pk, state in finished.items()} == dict.fromkeys(accepted, "scored"), (
                site.log("site")[-4000:]
            )
            assert runs_per_submission(site) == dict.fromkeys(accepted, 1)
    finally:
        stop(redis)
