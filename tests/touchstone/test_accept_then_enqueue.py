"""An upload whose row is committed is accepted, whatever the broker says, and sent later.

The broker here is real and down: the Celery app is pointed at a Redis URL on a loopback port
where nothing listens, so every publish fails the way it does while Redis is stopped. Once the
app is pointed back at the embedded broker, the periodic pass sends what waited.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import transaction

from tests.touchstone.conftest import api_client_for, upload
from touchstone import tasks
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.storage import private_path
from touchstone.submissions.models import Submission
from touchstone.submissions.queueing import WAITING_FOR_QUEUE
from touchstone.submissions.services import submit_model

pytestmark = pytest.mark.django_db(transaction=True)


def messages_for(submission_id: int) -> list[Path]:
    """Evaluation messages for ``submission_id`` waiting in the embedded broker's queue folder."""
    found = []
    for path in (Path(django_settings.BROKER_DIR) / "queue").glob("*.msg"):
        headers = json.loads(path.read_text()).get("headers", {})
        if (
            headers.get("task") == "touchstone.tasks.evaluate_submission"
            and headers.get("argsrepr") == f"({submission_id},)"
        ):
            found.append(path)
    return found


def post_model(client, version, content: bytes):
    return client.post(
        "/api/v1/submissions/",
        {"benchmark": "digits", "version": version.version, "model_name": "Centroids", "model_file": upload(content)},
        format="multipart",
    )


def test_an_upload_made_while_the_broker_is_down_is_accepted_kept_and_sent_once_it_is_back(
    version, researcher, good_model_bytes, broker_down, settings
):
    settings.UNSENT_GRACE_SECONDS = 0.0
    started = time.monotonic()
    response = post_model(api_client_for(researcher), version, good_model_bytes)
    answered = time.monotonic() - started
    assert response.status_code == 201, response.content
    assert answered < 15, f"the upload took {answered:.1f} s to answer while the broker was down"
    body = response.json()
    assert body["status"] == "queued"
    assert body["progress_message"] == WAITING_FOR_QUEUE
    assert body["queue_position"] == 1 and body["queued_ahead"] == 0
    submission = Submission.objects.get(pk=body["id"])
    assert submission.dispatched_at is None
    assert private_path(submission.model_path).read_bytes() == good_model_bytes

    # While the broker stays down, the pass sends nothing and loses nothing.
    assert tasks.publish_unsent_evaluations() == []
    submission.refresh_from_db()
    assert submission.status == Submission.Status.QUEUED and submission.dispatched_at is None

    broker_down()  # the broker is back
    assert tasks.publish_unsent_evaluations() == [submission.pk]
    assert len(messages_for(submission.pk)) == 1
    submission.refresh_from_db()
    assert submission.dispatched_at is not None
    assert submission.progress_message == ""
    # Sent once: the next pass finds nothing left to send.
    assert tasks.publish_unsent_evaluations() == []
    assert len(messages_for(submission.pk)) == 1
    for path in messages_for(submission.pk):
        path.unlink()


def test_an_upload_sent_at_once_is_not_sent_again_by_the_pass(version, researcher, good_model_bytes, settings):
    settings.UNSENT_GRACE_SECONDS = 0.0
    response = post_model(api_client_for(researcher), version, good_model_bytes)
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    assert len(messages_for(pk)) == 1
    assert Submission.objects.get(pk=pk).dispatched_at is not None
    assert tasks.publish_unsent_evaluations() == []
    assert len(messages_for(pk)) == 1
    for path in messages_for(pk):
        path.unlink()


def test_the_upload_page_accepts_an_upload_while_the_broker_is_down(
    client, version, researcher, good_model_bytes, broker_down
):
    client.force_login(researcher)
    response = client.post(
        f"/benchmarks/digits/{version.version}/submit/",
        {"model_name": "Centroids", "model_file": upload(good_model_bytes)},
    )
    assert response.status_code == 302, response.content[:500]
    submission = Submission.objects.get()
    assert submission.status == Submission.Status.QUEUED
    assert submission.progress_message == WAITING_FOR_QUEUE
    assert private_path(submission.model_path).is_file()
    page = client.get(submission.get_absolute_url())
    assert WAITING_FOR_QUEUE in page.content.decode()


def test_a_recompute_the_broker_refuses_is_logged_and_left_to_the_stale_board_pass(version, broker_down, caplog):
    with transaction.atomic():
        BenchmarkVersion.objects.filter(pk=version.pk).mark_leaderboard_stale()
        tasks.queue_recompute(version.pk)  # sent on commit: the broker refuses, nothing raises
    assert "the stale-board pass recomputes it later" in caplog.text
    broker_down()  # the broker is back
    assert tasks.refresh_stale_leaderboards() == [version.pk]


def test_background_rows_the_broker_refuses_go_back_to_the_database_queue(
    version, researcher, good_model_bytes, broker_down, settings
):
    settings.BACKGROUND_CONCURRENCY = 2
    rows = []
    for name in ("Pinned A", "Pinned B"):
        row = submit_model(owner=researcher, version=version, uploaded_file=upload(good_model_bytes), model_name=name)
        rows.append(row.pk)
    Submission.objects.filter(pk__in=rows).update(origin=Submission.Origin.BASELINE, dispatched_at=None)
    assert tasks.dispatch_background() == []
    assert list(Submission.objects.filter(pk__in=rows).values_list("dispatched_at", flat=True)) == [None, None]
    broker_down()  # the broker is back
    assert sorted(tasks.dispatch_background()) == rows
    assert all(len(messages_for(pk)) == 1 for pk in rows)
    for pk in rows:
        for path in messages_for(pk):
            path.unlink()
