"""``make run``'s site (SQLite, the embedded broker, one supervised worker, gunicorn) under a burst
of uploads, a killed worker and a lost message: every submission ends scored."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from evaluation.client import TouchstoneClient
from evaluation.spec import load_benchmark
from tests.models import centroid_model
from tests.services import supervised_site, wait_for, worker_pid, worker_starts

# Its times matter (a deadline, a latency bound or measured figures): under pytest-xdist it runs
# on one worker with the other files of the "timed" group, never beside them (tests/parallel.py).
pytestmark = [pytest.mark.services, pytest.mark.xdist_group("timed")]

N_UPLOADS = 50
# Generous limits for the burst: this test is about the queue, not about quotas or throttles.
BURST_ENV = {
    "TOUCHSTONE_THROTTLE_UPLOADS": "10000/hour",
    "TOUCHSTONE_SUBMISSIONS_PER_DAY": "1000",
    "TOUCHSTONE_SANDBOX_WALL_SECONDS": "30",
    "TOUCHSTONE_SANDBOX_MEMORY_MB": "1536",
}


@pytest.fixture(scope="module")
def distinct_models(digits_folder, tmp_path_factory) -> list[Path]:
    """Small centroid models, each a little different, so that every upload is a new model."""
    dev = load_benchmark(digits_folder).load_split("dev")
    folder = tmp_path_factory.mktemp("burst-models")
    return [
        centroid_model(dev.inputs, dev.labels, 10, folder / f"model-{n}.pt", noise=0.2, seed=n)
        for n in range(N_UPLOADS)
    ]


def statuses(site) -> dict[str, int]:
    """Submissions per status, read from the site's SQLite file the way an operator would."""
    with sqlite3.connect(Path(site.env["TOUCHSTONE_DATA_DIR"]) / "touchstone.sqlite3", timeout=30) as database:
        return dict(database.execute("select status, count(*) from submissions_submission group by status"))


def wait_until_finished(site, expected: int, timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = statuses(site)
        if sum(counts.get(status, 0) for status in ("scored", "failed", "withdrawn")) >= expected:
            return counts
        time.sleep(1.0)
    raise AssertionError(f"after {timeout:.0f} s the submissions are {statuses(site)}:\n{site.log('site')[-4000:]}")


def broker_folder(site) -> Path:
    return Path(site.env["TOUCHSTONE_DATA_DIR"]) / "broker"


def test_fifty_concurrent_uploads_are_all_scored(service_folder, digits_folder, distinct_models):
    with supervised_site(service_folder / "burst", benchmarks=[digits_folder], extra_env=BURST_ENV) as site:
        client = TouchstoneClient(site.url, site.create_researcher("ada"), timeout=120)

        def upload(number: int) -> dict:
            return client.submit(
                benchmark="digits", version="1.0.0", model_file=distinct_models[number], model_name=f"Burst {number}"
            )

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=N_UPLOADS) as pool:
            created = list(pool.map(upload, range(N_UPLOADS)))
        uploaded = time.monotonic() - started
        counts = wait_until_finished(site, N_UPLOADS, timeout=900)
        drained = time.monotonic() - started
        print(
            f"\n{N_UPLOADS} concurrent uploads accepted in {uploaded:.1f} s, all finished after {drained:.1f} s "
            f"({drained / N_UPLOADS:.1f} s per submission): {counts}"
        )

        assert counts == {"scored": N_UPLOADS}, site.log("site")[-4000:]
        assert len({submission["id"] for submission in created}) == N_UPLOADS
        for submission in created:
            assert client.submission(submission["id"])["status"] == "scored"
        log = site.log("site")
        assert "Unrecoverable error" not in log
        assert worker_starts(site) == 1, "the worker stopped during the burst"
        assert os.listdir(broker_folder(site) / "error") == []
        assert os.listdir(broker_folder(site) / "queue") == []


# The sweep runs every 2 s and publishes again the message of a submission queued for 5 s.
RECOVERY_ENV = {**BURST_ENV, "TOUCHSTONE_SWEEP_SECONDS": "2", "TOUCHSTONE_REQUEUE_QUEUED_SECONDS": "5"}


@pytest.fixture(scope="module")
def recovering_site(service_folder, digits_folder):
    with supervised_site(service_folder / "recovery", benchmarks=[digits_folder], extra_env=RECOVERY_ENV) as site:
        site.client = TouchstoneClient(site.url, site.create_researcher("grace"), timeout=120)
        yield site


def submit(site, model: Path, name: str) -> int:
    return site.client.submit(benchmark="digits", version="1.0.0", model_file=model, model_name=name)["id"]


def test_a_killed_worker_is_started_again_and_scores_what_was_queued(recovering_site, distinct_models):
    site = recovering_site
    starts = worker_starts(site)
    os.kill(worker_pid(site), signal.SIGKILL)
    queued = [submit(site, distinct_models[n], f"While down {n}") for n in range(2)]
    wait_for(lambda: worker_starts(site) > starts, timeout=60, what="a restarted worker")
    assert "the worker stopped with code" in site.log("site")
    for submission_id in queued:
        assert site.client.wait(submission_id, poll_seconds=0.5, timeout=180)["status"] == "scored"


def test_a_message_that_cannot_be_read_is_set_aside_and_its_submission_is_scored(recovering_site, distinct_models):
    site = recovering_site
    worker = worker_pid(site)
    queue = broker_folder(site) / "queue"
    # Hold the worker still, so the message can be cut in half before anyone reads it: this
    # is the file a reader of kombu's own transport met while its writer was still writing.
    os.kill(worker, signal.SIGSTOP)
    try:
        # Messages of earlier submissions (or a sweep's second message for one still waiting
        # under load) may be in the queue too: the upload's own message is the one it adds. The
        # sweep runs inside the stopped worker (beat), so it cannot add one meanwhile.
        before = set(os.listdir(queue))
        submission_id = submit(site, distinct_models[2], "Half a message")
        messages = [name for name in set(os.listdir(queue)) - before if name.endswith(".evaluation.msg")]
        assert len(messages) == 1, messages
        content = (queue / messages[0]).read_bytes()
        (queue / messages[0]).write_bytes(content[: len(content) // 2])
    finally:
        os.kill(worker, signal.SIGCONT)
    final = site.client.wait(submission_id, poll_seconds=0.5, timeout=180)
    assert final["status"] == "scored"
    assert (broker_folder(site) / "error" / messages[0]).read_bytes() == content[: len(content) // 2]
    log = site.log("site")
    assert "not a complete message" in log and "Unrecoverable error" not in log
    assert worker_pid(site) == worker, "the worker stopped instead of setting the message aside"
