"""The maintainers' status page: the queue, the workers' records and failures, and who sees which rows."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db.models.functions import Now
from django.test import Client

from touchstone import tasks
from touchstone.benchmarks.models import Benchmark
from touchstone.submissions.models import Submission, WorkerRecord
from touchstone.submissions.runs import start_run
from touchstone.submissions.services import submit_model
from touchstone.submissions.workers import FORGET_AFTER_SECONDS, forget_workers, record_worker

from .conftest import api_client_for, upload


@pytest.fixture
def people(version):
    users = get_user_model().objects
    maintainer = users.create_user("mia", "mia@example.org")
    version.benchmark.maintainers.add(maintainer)
    stranger = users.create_user("otto", "otto@example.org")
    Benchmark.objects.create(slug="other", title="Other").maintainers.add(stranger)
    return {
        "maintainer": maintainer,
        "other_maintainer": stranger,
        "staff": users.create_user("sam", "sam@example.org", is_staff=True),
        "researcher": users.create_user("ada", "ada@example.org"),
    }


@pytest.fixture
def queue(version, people, good_model_bytes):
    """Three uploads: one running on a worker, one queued, one accepted while the broker was down."""
    owner = people["researcher"]
    made = {
        name: submit_model(owner=owner, version=version, uploaded_file=upload(good_model_bytes), model_name=name)
        for name in ("secret running model", "secret queued model", "secret unsent model")
    }
    Submission.objects.filter(pk__in=[made["secret running model"].pk, made["secret queued model"].pk]).update(
        dispatched_at=Now()
    )
    Submission.objects.filter(pk=made["secret running model"].pk).update(created_at=Now() - timedelta(seconds=120))
    run = start_run(made["secret running model"].pk, worker="gpu-host-17")
    Submission.objects.filter(pk=made["secret running model"].pk).update(heartbeat_at=Now() - timedelta(seconds=4))
    return {"submissions": made, "run": run}


def status_as(user) -> dict:
    response = api_client_for(user).get("/api/v1/status/")
    assert response.status_code == 200, response.content
    return response.json()


def test_the_watchdog_records_its_worker_with_the_database_clock(db):
    tasks.record_this_worker(name="celery@test (pid 1)", concurrency=2)
    record = WorkerRecord.objects.get()
    assert (record.hostname, record.pid, record.concurrency) == (socket.gethostname(), os.getpid(), 2)
    assert record.current_runs == [] and record.started_at == record.last_seen_at
    tasks.record_this_worker(name="celery@test (pid 1)", concurrency=2)
    again = WorkerRecord.objects.get()
    assert again.started_at == record.started_at and again.last_seen_at >= record.last_seen_at


def test_a_worker_record_names_the_runs_it_still_holds(queue):
    running = queue["submissions"]["secret running model"]
    queued = queue["submissions"]["secret queued model"]
    record = record_worker(name="w", hostname="h", pid=7, concurrency=1, submission_ids=[running.pk, queued.pk])
    assert record.current_runs == [queue["run"].pk]
    # A run that lost its row (taken over, cancelled) is no longer the worker's.
    Submission.objects.filter(pk=running.pk).update(current_run=None, status=Submission.Status.QUEUED)
    assert record_worker(name="w", hostname="h", pid=7, concurrency=1, submission_ids=[running.pk]).current_runs == []


def test_a_silent_worker_is_shown_stale_and_forgotten_after_an_hour(people, settings):
    record_worker(name="quiet", hostname="h", pid=1, concurrency=1, submission_ids=[])
    record_worker(name="alive", hostname="h", pid=2, concurrency=1, submission_ids=[])
    WorkerRecord.objects.filter(name="quiet").update(last_seen_at=Now() - timedelta(seconds=120))
    workers = {worker["name"]: worker for worker in status_as(people["staff"])["workers"]}
    assert workers["quiet"]["stale"] and not workers["alive"]["stale"]
    assert 119 <= workers["quiet"]["last_seen_seconds"] <= 130
    assert forget_workers() == 0
    WorkerRecord.objects.filter(name="quiet").update(last_seen_at=Now() - timedelta(seconds=FORGET_AFTER_SECONDS + 5))
    assert forget_workers() == 1
    assert list(WorkerRecord.objects.values_list("name", flat=True)) == ["alive"]


def test_staff_see_every_queued_and_running_row_with_ages_places_and_states(queue, people):
    record_worker(
        name="celery@gpu (pid 9)",
        hostname="gpu-host-17",
        pid=9,
        concurrency=1,
        submission_ids=[queue["submissions"]["secret running model"].pk],
    )
    body = status_as(people["staff"])
    rows = {row["submission"]: row for row in body["queue"]["rows"]}
    running, queued, unsent = (
        queue["submissions"][name].pk for name in ("secret running model", "secret queued model", "secret unsent model")
    )
    assert rows[running]["state"] == "running" and rows[running]["run"] == queue["run"].pk
    assert 3 <= rows[running]["heartbeat_age_seconds"] <= 15 and rows[running]["worker"] == "gpu-host-17"
    assert 119 <= rows[running]["age_seconds"] <= 135
    assert (rows[queued]["state"], rows[queued]["queue_position"]) == ("queued", 1)
    assert (rows[unsent]["state"], rows[unsent]["queue_position"]) == ("waiting for the broker", 2)
    assert body["queue"] | {"rows": None, "oldest_queued_seconds": None} == {
        "queued": 1,
        "waiting_for_broker": 1,
        "running": 1,
        "oldest_queued_seconds": None,
        "rows": None,
    }
    assert body["workers"][0]["hostname"] == "gpu-host-17" and body["workers"][0]["current_runs"] == [queue["run"].pk]


def test_a_stale_heartbeat_is_shown_on_its_row(queue, people, settings):
    running = queue["submissions"]["secret running model"]
    Submission.objects.filter(pk=running.pk).update(
        heartbeat_at=Now() - timedelta(seconds=settings.HEARTBEAT_STALE_SECONDS + 10)
    )
    rows = {row["submission"]: row for row in status_as(people["staff"])["queue"]["rows"]}
    assert rows[running.pk]["state"] == "running, heartbeat stale"


def test_maintainers_see_their_benchmarks_rows_without_model_names_hosts_or_others_runs(queue, people):
    record_worker(
        name="celery@gpu (pid 9)",
        hostname="gpu-host-17",
        pid=9,
        concurrency=1,
        submission_ids=[queue["submissions"]["secret running model"].pk],
    )
    mine = api_client_for(people["maintainer"]).get("/api/v1/status/")
    theirs = api_client_for(people["other_maintainer"]).get("/api/v1/status/")
    assert len(mine.json()["queue"]["rows"]) == 3
    assert theirs.json()["queue"]["rows"] == [] and theirs.json()["benchmarks"] == ["other"]
    assert theirs.json()["workers"][0]["current_runs"] == [] and theirs.json()["workers"][0]["busy"] == 1
    for response in (mine, theirs):
        assert b"secret" not in response.content and b"gpu-host-17" not in response.content
        assert b"ada" not in response.content
        assert all("worker" not in row for row in response.json()["queue"]["rows"])


def test_failures_of_the_last_day_are_counted_by_reason(queue, people):
    failed = queue["submissions"]["secret queued model"]
    Submission.objects.filter(pk=failed.pk).update(status=Submission.Status.FAILED, error_code="model_raised")
    by_reason = status_as(people["maintainer"])["failures"]["by_reason"]
    assert by_reason == [{"reason": "model_raised", "count": 1}]
    assert status_as(people["other_maintainer"])["failures"]["by_reason"] == []


def test_researchers_and_visitors_are_refused_and_not_shown_the_link(queue, people):
    assert api_client_for(people["researcher"]).get("/api/v1/status/").status_code == 403
    assert Client().get("/api/v1/status/").status_code == 401
    page = Client()
    page.force_login(people["researcher"])
    refused = page.get("/status/")
    assert refused.status_code == 403 and b"secret" not in refused.content
    assert b'id="status-link"' not in page.get("/").content
    assert Client().get("/status/").status_code == 302


def test_the_page_lists_the_queue_and_workers_for_a_maintainer_with_the_link(queue, people):
    record_worker(name="celery@gpu (pid 9)", hostname="gpu-host-17", pid=9, concurrency=1, submission_ids=[])
    page = Client()
    page.force_login(people["maintainer"])
    response = page.get("/status/")
    assert response.status_code == 200
    text = response.content.decode()
    assert f"#{queue['submissions']['secret unsent model'].pk}" in text and "waiting for the broker" in text
    assert "worker 1" in text and "gpu-host-17" not in text and "secret" not in text
    assert 'id="status-link"' in text
