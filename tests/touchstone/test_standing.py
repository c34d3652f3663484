"""Where a researcher stands: quota left and size limit shown, identical files refused, preflights free."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.security.models import build_raising_model
from tests.touchstone.conftest import api_client_for, upload
from tests.touchstone.test_api_submissions import post_model
from touchstone.submissions.models import Submission
from touchstone.submissions.scoring import score_submission

QUOTA = "/api/v1/quota/?benchmark=digits&version=1.0.0"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_upload_page_shows_the_quota_left_and_the_size_limit_in_mib(version, researcher, settings):
    settings.SUBMISSIONS_PER_DAY = 3
    settings.MAX_UPLOAD_BYTES = 100 * 1024 * 1024
    Submission.objects.create(
        owner=researcher, version=version, model_name="Earlier", team="ada", sha256="0" * 64, size_bytes=1
    )
    page = logged_in(researcher).get("/benchmarks/digits/1.0.0/submit/").content.decode()
    assert "2 of 3</strong> submissions left" in page
    assert "<strong>100 MiB</strong>" in page


def test_the_quota_api_gives_the_same_figures_and_needs_a_login(version, researcher, settings):
    settings.SUBMISSIONS_PER_DAY = 1
    assert APIClient().get(QUOTA).status_code == 401
    client = api_client_for(researcher)
    body = client.get(QUOTA).json()
    assert (body["used"], body["left"], body["limit"], body["max_upload"]) == (0, 1, 1, "100 MiB")
    made = timezone.now() - timedelta(hours=3)
    Submission.objects.create(
        owner=researcher, version=version, model_name="E", team="ada", sha256="0" * 64, size_bytes=1, created_at=made
    )
    body = client.get("/api/v1/quota/?benchmark=digits").json()
    assert (body["version"], body["left"]) == ("1.0.0", 0)
    assert body["next_slot_at"].startswith(f"{made + timedelta(days=1):%Y-%m-%dT%H:%M}")
    assert "0 of 1 submissions left" in body["summary"] and "100 MiB" in body["summary"]


def test_an_identical_file_is_refused_with_a_pointer_to_the_earlier_submission(
    version, researcher, good_model_bytes, refuse_identical_uploads
):
    client = api_client_for(researcher)
    first = post_model(client, version, good_model_bytes).json()
    refused = post_model(client, version, good_model_bytes, name="Again")
    assert refused.status_code == 409
    body = refused.json()
    assert body["submission"] == first["id"] and body["url"].endswith(f"/api/v1/submissions/{first['id']}/")
    assert f"#{first['id']}" in body["detail"] and body["field"] == "model_file"
    page = logged_in(researcher).post(
        "/benchmarks/digits/1.0.0/submit/", {"model_name": "Again", "model_file": upload(good_model_bytes)}
    )
    assert f'<a href="/submissions/{first["id"]}/">submission #{first["id"]}' in page.content.decode()
    assert Submission.objects.count() == 1


def test_a_model_that_fails_its_preflight_costs_no_quota(version, researcher, tmp_path, settings):
    settings.SUBMISSIONS_PER_DAY = 1
    client = api_client_for(researcher)
    failing = build_raising_model(tmp_path).read_bytes()
    created = post_model(client, version, failing).json()
    assert score_submission(submission_id=created["id"]) == "failed"
    failed = Submission.objects.get(pk=created["id"])
    assert failed.error_message.startswith("Preflight") and not failed.counts_against_quota
    assert client.get(QUOTA).json()["left"] == 1
