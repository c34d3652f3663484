"""A researcher's own submissions: listed on /submissions/ and by the API, with status, score and filters."""

from __future__ import annotations

from django.test import Client
from rest_framework.test import APIClient

from tests.touchstone.conftest import api_client_for
from tests.touchstone.ledger import capture_enqueued, record_result
from touchstone.rankings.models import LadderRelease
from touchstone.rankings.services import recompute_leaderboard
from touchstone.submissions.models import Submission


def queued(version, owner, name: str) -> Submission:
    return Submission.objects.create(
        owner=owner, version=version, model_name=name, team=owner.username, sha256="0" * 64, size_bytes=1
    )


def test_the_api_lists_only_the_callers_submissions_with_filters(version, researcher, other_researcher, monkeypatch):
    capture_enqueued(monkeypatch)
    scored = record_result(version, researcher, accuracy=0.8, seed=1)
    recompute_leaderboard(version=version)
    waiting = queued(version, researcher, "Waiting")
    queued(version, other_researcher, "Not mine")

    assert APIClient().get("/api/v1/submissions/?mine=1").status_code == 401
    client = api_client_for(researcher)
    assert client.get("/api/v1/submissions/").status_code == 400
    listed = client.get("/api/v1/submissions/?mine=1").json()
    assert [row["id"] for row in listed] == [waiting.pk, scored.pk]
    released = LadderRelease.objects.get(submission=scored).released
    assert listed[1]["metrics"]["accuracy"]["value"] == released
    only_scored = client.get("/api/v1/submissions/?mine=1&status=scored&benchmark=digits&version=1.0.0").json()
    assert [row["id"] for row in only_scored] == [scored.pk]
    assert client.get("/api/v1/submissions/?mine=1&version=9.9.9").json() == []
    refused = client.get("/api/v1/submissions/?mine=1&status=lost")
    assert refused.status_code == 400 and refused.json()["field"] == "status"


def test_the_page_shows_status_released_score_and_filters(version, researcher, other_researcher, monkeypatch):
    capture_enqueued(monkeypatch)
    scored = record_result(version, researcher, accuracy=0.8, seed=1)
    recompute_leaderboard(version=version)
    waiting = queued(version, researcher, "Waiting")
    queued(version, other_researcher, "Not mine")
    page = Client()
    page.force_login(researcher)

    shown = page.get("/submissions/").content.decode()
    released = LadderRelease.objects.get(submission=scored).released
    assert f"accuracy {released:.4f}" in shown
    assert f"<tr><td>{waiting.pk}</td>" in shown and "Not mine" not in shown
    filtered = page.get("/submissions/?status=queued").content.decode()
    assert f"<tr><td>{waiting.pk}</td>" in filtered and f"<tr><td>{scored.pk}</td>" not in filtered
    assert "No submission matches" in page.get("/submissions/?benchmark=digits&version=2.0.0").content.decode()
