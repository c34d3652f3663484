"""Withdrawal asks first, can be undone, and never hides a submission from its owner."""

from __future__ import annotations

from django.test import Client
from rest_framework.test import APIClient

from tests.touchstone.conftest import api_client_for, upload
from tests.touchstone.ledger import capture_enqueued, record_result
from tests.touchstone.test_api_submissions import post_model
from touchstone.rankings.models import LadderRelease, LeaderboardEntry
from touchstone.rankings.services import recompute_leaderboard
from touchstone.submissions.models import Submission


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def on_board(version, submission) -> bool:
    return LeaderboardEntry.objects.filter(version=version, submission=submission).exists()


def scored_on_the_board(version, researcher, monkeypatch) -> Submission:
    capture_enqueued(monkeypatch)
    scored = record_result(version, researcher, accuracy=0.8, seed=1)
    recompute_leaderboard(version=version)
    assert on_board(version, scored)
    return scored


def test_withdrawing_on_the_site_asks_for_confirmation_before_it_withdraws(version, researcher, monkeypatch):
    scored = scored_on_the_board(version, researcher, monkeypatch)
    page = logged_in(researcher)
    url = f"/submissions/{scored.pk}/withdraw/"
    assert f'href="{url}"' in page.get(scored.get_absolute_url()).content.decode()
    asked = page.get(url).content.decode()
    assert "Withdraw submission #" in asked and 'name="confirm" value="yes"' in asked
    # A POST that did not come from the confirmation (no ``confirm``) only asks again.
    assert "Withdraw it" in page.post(url).content.decode()
    assert Submission.objects.get(pk=scored.pk).status == Submission.Status.SCORED
    page.post(url, {"confirm": "yes"})
    assert Submission.objects.get(pk=scored.pk).status == Submission.Status.WITHDRAWN


def test_a_withdrawn_submission_stays_visible_to_its_owner_with_its_scores(version, researcher, monkeypatch):
    scored = scored_on_the_board(version, researcher, monkeypatch)
    released = LadderRelease.objects.get(submission=scored).released
    api_client_for(researcher).post(f"/api/v1/submissions/{scored.pk}/withdraw/")
    recompute_leaderboard(version=version)
    assert not on_board(version, scored)

    shown = logged_in(researcher).get(scored.get_absolute_url()).content.decode()
    assert "withdrawn" in shown and f"{released:.4f}" in shown and 'id="restore"' in shown
    body = api_client_for(researcher).get(f"/api/v1/submissions/{scored.pk}/").json()
    assert body["status"] == "withdrawn" and body["metrics"]["accuracy"]["value"] == released
    listed = logged_in(researcher).get("/submissions/").content.decode()
    assert scored.get_absolute_url() in listed
    # Nobody else sees it.
    assert APIClient().get(f"/api/v1/submissions/{scored.pk}/").status_code == 404


def test_restoring_a_withdrawn_submission_puts_it_back_on_the_board(version, researcher, other_researcher, monkeypatch):
    scored = scored_on_the_board(version, researcher, monkeypatch)
    client = api_client_for(researcher)
    client.post(f"/api/v1/submissions/{scored.pk}/withdraw/")
    recompute_leaderboard(version=version)
    assert api_client_for(other_researcher).post(f"/api/v1/submissions/{scored.pk}/restore/").status_code == 404
    logged_in(researcher).post(f"/submissions/{scored.pk}/restore/")
    assert Submission.objects.get(pk=scored.pk).status == Submission.Status.SCORED
    recompute_leaderboard(version=version)
    assert on_board(version, scored)
    # The Ladder's log is as it was: the restored entry was not laddered a second time.
    assert LadderRelease.objects.filter(submission=scored).count() == 1
    assert client.post(f"/api/v1/submissions/{scored.pk}/restore/").json()["status"] == "scored"


def test_one_withdrawn_before_it_was_scored_cannot_be_restored_but_its_file_can_be_sent_again(
    version, researcher, good_model_bytes, refuse_identical_uploads
):
    client = api_client_for(researcher)
    queued = post_model(client, version, good_model_bytes).json()
    client.post(f"/api/v1/submissions/{queued['id']}/withdraw/")
    refused = client.post(f"/api/v1/submissions/{queued['id']}/restore/")
    assert refused.status_code == 409 and "before it was scored" in refused.json()["detail"]
    again = logged_in(researcher).post(
        "/benchmarks/digits/1.0.0/submit/", {"model_name": "Again", "model_file": upload(good_model_bytes)}
    )
    assert again.status_code == 302
