"""Two machines that share only PostgreSQL, Redis and an S3 bucket (moto's server on loopback).

Machine A runs the web server, machine B a Celery worker; each has its own data folder, so the
model, the hidden split and the outcomes can only travel through the bucket.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import pytest

from evaluation.client import TouchstoneClient
from tests.object_storage import new_bucket, s3_client, s3_emulator, storage_environment
from tests.services import (
    ROOT,
    Site,
    free_port,
    postgres_server,
    redis_server,
    site_environment,
    stop,
    wait_for,
    worker_command,
)

pytestmark = pytest.mark.services


def start(site: Site, name: str, command: list[str]) -> subprocess.Popen:
    log = open(site.folder / f"{name}.log", "wb")
    process = subprocess.Popen(
        command, cwd=ROOT, env=site.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    site.processes.append(process)
    return process


def researcher_token(site: Site) -> str:
    """A researcher's API token, made in one management command (each start-up costs seconds)."""
    output = site.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; from rest_framework.authtoken.models import Token; "
        "user = get_user_model().objects.create_user('ada', 'ada@example.org', 'a-long-password-1'); "
        "print('token', Token.objects.create(user=user).key)",
    )
    return output.split("token ")[-1].strip()


def board_entry(client: TouchstoneClient, submission_id: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        board = client._request("GET", "benchmarks/digits/versions/1.0.0/leaderboard/")
        for entry in board["entries"]:
            if entry["submission"] == submission_id:
                return entry
        time.sleep(0.3)
    raise AssertionError(f"submission {submission_id} did not reach the leaderboard: {board}")


def test_an_upload_to_one_machine_is_scored_by_a_worker_on_another(service_folder, digits_folder, model_files):
    with (
        postgres_server(service_folder / "two-machines-postgres") as database_url,
        redis_server(service_folder / "two-machines-redis") as broker_url,
        s3_emulator() as endpoint,
    ):
        bucket = new_bucket(endpoint)
        shared = storage_environment(endpoint, bucket)
        machines = {}
        for name in ("machine-a", "machine-b"):
            folder = service_folder / name
            folder.mkdir()
            env = {**site_environment(folder, database_url=database_url, broker_url=broker_url), **shared}
            machines[name] = Site(url="", env=env, folder=folder)
        web, worker = machines["machine-a"], machines["machine-b"]
        web.url = f"http://127.0.0.1:{free_port()}"
        web.manage("migrate", "--noinput")
        port = web.url.rsplit(":", 1)[1]
        serving = start(web, "web", [sys.executable, "-m", "touchstone.serve", "--host", "127.0.0.1", "--port", port])
        working = start(worker, "worker", worker_command())
        try:
            # Published while the two processes start; neither reads it before the upload.
            web.manage("publish_benchmark", str(digits_folder))
            wait_for(
                lambda: urllib.request.urlopen(web.url + "/api/v1/benchmarks/", timeout=2).status == 200,
                timeout=60,
                what="the web server",
                process=serving,
            )
            wait_for(lambda: b"ready" in (worker.folder / "worker.log").read_bytes(), timeout=60, what="the worker")
            client = TouchstoneClient(web.url, researcher_token(web))
            created = client.submit(
                benchmark="digits", version="1.0.0", model_file=model_files["strong"], model_name="Centroids"
            )
            final = client.wait(created["id"], poll_seconds=0.2, timeout=120)
            assert final["status"] == "scored", f"{final}\nworker log:\n{worker.log('worker')[-3000:]}"
            entry = board_entry(client, created["id"])
            assert 0.8 < entry["metrics"]["accuracy"]["value"] <= 1.0
            with urllib.request.urlopen(web.url + "/healthz", timeout=10) as response:
                assert json.load(response)["checks"]["storage"]["ok"] is True
        finally:
            for process in (serving, working):
                stop(process, timeout=5)

        listing = s3_client(endpoint).list_objects_v2(Bucket=bucket)
        keys = [item["Key"] for item in listing.get("Contents", [])]
        assert any(key.startswith(f"outcomes/{created['id']}/") for key in keys), keys
        # The worker ran the model from its own cache, fetched from the bucket; neither machine
        # wrote anything to a local private folder.
        cache_b = worker.folder / "data" / "storage-cache"
        assert list(cache_b.glob("submissions/*/*/*/model.pt")), "the worker never fetched the model"
        assert list(cache_b.glob("benchmarks/digits/*/test.npz")), "the worker never fetched the hidden split"
        assert not list((web.folder / "data" / "storage-cache").glob("submissions/**/*.pt")), (
            "the web server kept the model"
        )
        for machine in (web, worker):
            private = machine.folder / "data" / "private"
            assert not private.exists() or not any(private.rglob("*.np[yz]"))
