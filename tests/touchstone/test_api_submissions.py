from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.touchstone.conftest import api_client_for, upload
from tests.touchstone.ledger import capture_enqueued, record_result
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.rankings.models import LeaderboardEntry
from touchstone.rankings.services import leaderboard_is_stale
from touchstone.storage import private_root
from touchstone.submissions.models import Submission
from touchstone.submissions.scoring import score_submission
from touchstone.tasks import recompute_leaderboard as recompute_leaderboard_task


def post_model(client, version, content: bytes, name: str = "Centroids"):
    return client.post(
        "/api/v1/submissions/",
        {"benchmark": "digits", "version": version.version, "model_name": name, "model_file": upload(content)},
        format="multipart",
    )


def stored_model_files() -> list:
    folder = private_root() / "submissions"
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def test_uploading_needs_a_token(version, good_model_bytes):
    response = post_model(APIClient(), version, good_model_bytes)
    assert response.status_code == 401
    assert Submission.objects.count() == 0


def test_it_accepts_a_model_and_queues_it(version, researcher, good_model_bytes, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_model(api_client_for(researcher), version, good_model_bytes)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "queued"
    assert len(callbacks) == 1  # the evaluation is enqueued once the row is committed
    submission = Submission.objects.get(pk=body["id"])
    assert submission.owner == researcher
    assert submission.team == "ada"
    assert submission.model_format == "torchscript"
    assert len(submission.sha256) == 64 and body["sha256"] == submission.sha256


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"this is plainly not a model file", "not a"),
        (b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94.", "pickle"),
    ],
)
def test_it_rejects_a_file_that_is_not_a_model(version, researcher, content, words):
    response = post_model(api_client_for(researcher), version, content)
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "model_file"
    assert words in body["detail"].lower()
    assert Submission.objects.count() == 0
    assert stored_model_files() == []


def test_it_rejects_an_upload_over_the_size_cap(version, researcher, good_model_bytes, settings):
    settings.MAX_UPLOAD_BYTES = len(good_model_bytes) - 1
    response = post_model(api_client_for(researcher), version, good_model_bytes)
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert Submission.objects.count() == 0
    assert stored_model_files() == []


def test_it_names_a_missing_field(version, researcher):
    response = api_client_for(researcher).post(
        "/api/v1/submissions/", {"benchmark": "digits", "version": version.version}, format="multipart"
    )
    assert response.status_code == 400
    body = response.json()
    assert set(body["errors"]) == {"model_file", "model_name"} and body["field"] in body["errors"]


def test_it_rejects_an_unknown_version(version, researcher, good_model_bytes):
    response = api_client_for(researcher).post(
        "/api/v1/submissions/",
        {"benchmark": "digits", "version": "7.0.0", "model_name": "x", "model_file": upload(good_model_bytes)},
        format="multipart",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "version" and "7.0.0" in body["detail"] and body["errors"]["version"] == [body["detail"]]


def test_it_enforces_the_daily_quota(version, researcher, good_model_bytes, settings):
    settings.SUBMISSIONS_PER_DAY = 2
    client = api_client_for(researcher)
    assert post_model(client, version, good_model_bytes).status_code == 201
    assert post_model(client, version, good_model_bytes).status_code == 201
    refused = post_model(client, version, good_model_bytes)
    assert refused.status_code == 429
    assert "quota" in refused.json()["detail"]
    assert Submission.objects.count() == 2


def test_failures_caused_by_the_site_do_not_count_against_the_quota(
    version, researcher, good_model_bytes, settings, broken_bubblewrap
):
    settings.SUBMISSIONS_PER_DAY = 1
    client = api_client_for(researcher)
    first = post_model(client, version, good_model_bytes).json()
    # A real sandbox start-up failure: bubblewrap cannot create its namespaces.
    assert score_submission(submission_id=first["id"]) == "failed"
    assert Submission.objects.get(pk=first["id"]).error_code == "sandbox_unavailable"
    assert post_model(client, version, good_model_bytes).status_code == 201
    # The upload just accepted does count: the quota of one is used up now.
    assert post_model(client, version, good_model_bytes).status_code == 429


def test_a_queued_submission_is_private_to_its_owner(version, researcher, other_researcher, good_model_bytes):
    created = post_model(api_client_for(researcher), version, good_model_bytes).json()
    assert api_client_for(researcher).get(f"/api/v1/submissions/{created['id']}/").status_code == 200
    assert api_client_for(other_researcher).get(f"/api/v1/submissions/{created['id']}/").status_code == 404
    assert APIClient().get(f"/api/v1/submissions/{created['id']}/").status_code == 404
    assert APIClient().get(f"/api/v1/submissions/{created['id']}/provenance/").status_code == 404


def test_the_provenance_record_is_public_and_its_private_part_is_for_maintainers_only(
    version, researcher, other_researcher, good_model_bytes
):
    import socket

    from django.contrib.auth import get_user_model

    created = post_model(api_client_for(researcher), version, good_model_bytes).json()
    assert score_submission(submission_id=created["id"]) == "scored"
    url = f"/api/v1/submissions/{created['id']}/provenance/"
    maintainer = get_user_model().objects.create_user("maud", "maud@example.org", "a-long-password-3", is_staff=True)
    for client in (APIClient(), api_client_for(researcher), api_client_for(other_researcher)):
        record = client.get(url).json()
        assert record["artifact"]["sha256"] == created["sha256"]
        assert "private" not in record and "worker" not in record and "predictions_sha256" not in record
    staff = api_client_for(maintainer).get(url).json()
    assert staff["private"]["worker"] == socket.gethostname()
    assert staff["private"]["predictions_sha256"] != staff["predictions_hmac_sha256"]


def test_only_the_owner_can_withdraw(version, researcher, other_researcher):
    scored = record_result(version, researcher, accuracy=0.8, seed=1)
    url = f"/api/v1/submissions/{scored.pk}/withdraw/"
    assert APIClient().post(url).status_code == 401
    assert api_client_for(other_researcher).post(url).status_code == 403
    assert Submission.objects.get(pk=scored.pk).status == Submission.Status.SCORED
    response = api_client_for(researcher).post(url)
    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"
    # Withdrawn entries leave the public view but stay in the ledger.
    assert APIClient().get(f"/api/v1/submissions/{scored.pk}/").status_code == 404
    assert Submission.objects.filter(pk=scored.pk).exists()


def test_a_withdrawal_through_the_api_queues_the_recompute_that_drops_the_entry(
    version, researcher, monkeypatch, django_capture_on_commit_callbacks
):
    queued = capture_enqueued(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        scored = record_result(version, researcher, accuracy=0.8, seed=1)
    assert queued == [("recompute", version.pk)]
    recompute_leaderboard_task(queued.pop()[1])
    assert LeaderboardEntry.objects.filter(version=version, submission=scored).exists()
    before = BenchmarkVersion.objects.get(pk=version.pk).generation

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client_for(researcher).post(f"/api/v1/submissions/{scored.pk}/withdraw/")

    assert response.status_code == 200, response.content
    assert BenchmarkVersion.objects.get(pk=version.pk).generation == before + 1
    assert leaderboard_is_stale(version_id=version.pk)
    assert queued == [("recompute", version.pk)]
    recompute_leaderboard_task(queued.pop()[1])
    assert not LeaderboardEntry.objects.filter(version=version).exists()
    assert not leaderboard_is_stale(version_id=version.pk)
