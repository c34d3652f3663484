"""A researcher sees their place in the queue, in the API and on the submission page."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from tests.touchstone.conftest import api_client_for, upload
from touchstone.submissions.models import Submission
from touchstone.submissions.queueing import queue_place
from touchstone.submissions.services import submit_model


def queued(researcher, version, content, names):
    rows = []
    for name in names:
        row = submit_model(owner=researcher, version=version, uploaded_file=upload(content), model_name=name)
        # A minute apart, in the order made, whoever made them.
        made = Submission.objects.count()
        Submission.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(minutes=60 - made))
        row.refresh_from_db()
        rows.append(row)
    return rows


def test_queued_uploads_are_placed_oldest_first_and_move_up_as_the_queue_drains(
    version, researcher, other_researcher, good_model_bytes
):
    first, second = queued(researcher, version, good_model_bytes, ["first", "second"])
    (third,) = queued(other_researcher, version, good_model_bytes, ["third"])
    assert [queue_place(row) for row in (first, second, third)] == [(1, 0), (2, 1), (3, 2)]
    # The first one starts running: it holds a worker, no longer a place.
    assert first.claim()
    second.refresh_from_db()
    third.refresh_from_db()
    assert queue_place(first) is None
    assert [queue_place(row) for row in (second, third)] == [(1, 0), (2, 1)]


def test_a_background_row_waits_behind_every_queued_upload(version, researcher, good_model_bytes):
    older, newer = queued(researcher, version, good_model_bytes, ["older", "newer"])
    Submission.objects.filter(pk=older.pk).update(origin=Submission.Origin.REEVALUATION)
    older.refresh_from_db()
    assert queue_place(older) == (2, 1)
    assert queue_place(newer) == (1, 0)


def test_the_api_and_the_page_show_the_place_while_queued(client, version, researcher, good_model_bytes):
    _, mine = queued(researcher, version, good_model_bytes, ["ahead", "mine"])
    body = api_client_for(researcher).get(f"/api/v1/submissions/{mine.pk}/").json()
    assert (body["queue_position"], body["queued_ahead"]) == (2, 1)
    client.force_login(researcher)
    page = client.get(mine.get_absolute_url()).content.decode()
    assert '<strong id="queue-position">2</strong>' in page
    assert '<span id="queued-ahead">1</span>' in page
    Submission.objects.filter(pk=mine.pk).update(status=Submission.Status.SCORED)
    body = api_client_for(researcher).get(f"/api/v1/submissions/{mine.pk}/").json()
    assert body["queue_position"] is None and body["queued_ahead"] is None
