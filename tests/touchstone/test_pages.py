"""The pages a visitor and a researcher meet, through Django's test client."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.touchstone.conftest import upload
from tests.touchstone.ledger import capture_enqueued
from touchstone.rankings.models import LadderRelease
from touchstone.rankings.services import freeze_version, recompute_leaderboard
from touchstone.submissions.models import Submission
from touchstone.submissions.scoring import score_submission
from touchstone.submissions.services import submit_model

# These tests are about what is shown: each distinct model runs once per session in the real
# sandbox and its report is reused (see reused_sandbox_runs).
pytestmark = pytest.mark.usefixtures("reused_sandbox_runs")


def scored(version, owner, content: bytes, name: str) -> Submission:
    submission = submit_model(owner=owner, version=version, uploaded_file=upload(content), model_name=name)
    score_submission(submission_id=submission.pk)
    recompute_leaderboard(version=version)
    return submission


def test_a_visitor_sees_the_home_page_with_the_leader(version, researcher, good_model_bytes):
    scored(version, researcher, good_model_bytes, "Centroid classifier")
    page = Client().get("/").content.decode()
    assert "Digits" in page or "digits" in page
    assert "Centroid classifier" in page


def test_a_visitor_sees_the_open_leaderboard_with_ladder_scores_and_chart(version, researcher, good_model_bytes):
    submission = scored(version, researcher, good_model_bytes, "Centroid classifier")
    release = LadderRelease.objects.get(submission=submission)
    response = Client().get(f"/benchmarks/digits/{version.version}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert f"{release.released:.4f}" in page and f"[{release.ci_low:.4f}, {release.ci_high:.4f}]" in page
    assert "feedback part" in page and "Ladder" in page
    assert "1–1" in page  # the rank interval of a lone entry
    assert 'id="leaderboard-chart"' in page
    assert "/static/vendor/plotly.min.js" in page
    assert "cdn.plot.ly" not in page


def test_a_frozen_leaderboard_shows_final_scores_and_the_detectable_effect(
    version, researcher, other_researcher, good_model_bytes, weak_model_bytes
):
    strong = scored(version, researcher, good_model_bytes, "Strong")
    scored(version, other_researcher, weak_model_bytes, "Weak")
    snapshot = freeze_version(version=version)
    page = Client().get(f"/benchmarks/digits/{version.version}/").content.decode()
    accuracy = strong.metric_results.get(metric="accuracy", part="final")
    assert f"{accuracy.value:.4f}" in page
    assert f"[{accuracy.ci_low:.4f}, {accuracy.ci_high:.4f}]" in page
    assert "final part" in page
    assert f"{snapshot.minimum_detectable_effect:.3f}" in page
    assert "Macro-F1" in page  # every metric is revealed


def test_the_compare_page_shows_the_paired_difference(
    version, researcher, other_researcher, good_model_bytes, weak_model_bytes
):
    strong = scored(version, researcher, good_model_bytes, "Strong")
    weak = scored(version, other_researcher, weak_model_bytes, "Weak")
    freeze_version(version=version)
    page = Client().get(f"/benchmarks/digits/{version.version}/compare/?a={strong.pk}&b={weak.pk}").content.decode()
    api = (
        Client().get(f"/api/v1/benchmarks/digits/versions/{version.version}/compare/?a={strong.pk}&b={weak.pk}").json()
    )
    assert f"{api['difference']['value']:.4f}" in page
    assert f">{api['a_only_correct']}<" in page and f">{api['b_only_correct']}<" in page
    assert "exact McNemar" in page


def test_plotly_is_served_from_our_static_files(db):
    response = Client().get("/static/vendor/plotly.min.js")
    assert response.status_code == 200
    assert b"plotly" in b"".join(response.streaming_content)[:2000].lower()


def test_the_benchmark_page_leads_to_its_latest_version(version):
    response = Client().get("/benchmarks/digits/")
    assert response.status_code == 200
    assert f'href="/benchmarks/digits/{version.version}/" id="latest-version"' in response.content.decode()


def test_a_visitor_sees_a_scored_submission_but_not_a_queued_one(version, researcher, good_model_bytes):
    done = scored(version, researcher, good_model_bytes, "Centroid classifier")
    queued = submit_model(owner=researcher, version=version, uploaded_file=upload(good_model_bytes), model_name="Later")
    page = Client().get(f"/submissions/{done.pk}/")
    assert page.status_code == 200
    assert done.sha256 in page.content.decode()
    assert Client().get(f"/submissions/{queued.pk}/").status_code == 404


def test_a_failed_submission_shows_its_reason_to_its_owner(version, researcher):
    failed = Submission.objects.create(
        owner=researcher,
        version=version,
        model_name="Broken",
        team="ada",
        model_path="x",
        model_format="torchscript",
        sha256="0" * 64,
        size_bytes=1,
        status="failed",
        error_code="malformed_output",
        error_message="the model returned logits of shape [4, 3]; expected [4, 10]",
    )
    client = Client()
    client.force_login(researcher)
    page = client.get(f"/submissions/{failed.pk}/").content.decode()
    assert "malformed_output" in page and "expected [4, 10]" in page


def test_a_researcher_signs_up_and_gets_a_token(db):
    client = Client()
    response = client.post(
        "/accounts/signup/",
        {
            "username": "hopper",
            "email": "hopper@example.org",
            "password1": "compilers-1952-x",
            "password2": "compilers-1952-x",
        },
    )
    assert response.status_code == 302
    page = client.get("/accounts/token/").content.decode()
    token = Token.objects.get(user__username="hopper")
    assert token.key in page


def test_the_upload_form_needs_a_login(version):
    response = Client().get(f"/benchmarks/digits/{version.version}/submit/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_upload_form_queues_a_model(
    version, researcher, good_model_bytes, monkeypatch, django_capture_on_commit_callbacks
):
    queued = capture_enqueued(monkeypatch)
    client = Client()
    client.force_login(researcher)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/benchmarks/digits/{version.version}/submit/",
            {"model_name": "From the form", "model_file": upload(good_model_bytes)},
        )
    submission = Submission.objects.get(model_name="From the form")
    assert response.status_code == 302 and response["Location"] == f"/submissions/{submission.pk}/"
    assert submission.status == Submission.Status.QUEUED and submission.owner == researcher
    assert queued == [("evaluate", submission.pk)]


def test_the_upload_form_explains_a_bad_file_and_keeps_nothing(version, researcher):
    client = Client()
    client.force_login(researcher)
    response = client.post(
        f"/benchmarks/digits/{version.version}/submit/",
        {"model_name": "Not a model", "model_file": upload(b"hello world")},
    )
    assert response.status_code == 200
    assert "not a" in response.content.decode().lower()
    assert not Submission.objects.exists()


def test_the_site_warns_while_unsandboxed_runs_are_allowed(db, settings):
    assert "unsandboxed-banner" not in Client().get("/").content.decode()
    settings.ALLOW_UNSANDBOXED_MODELS = True
    assert "unsandboxed-banner" in Client().get("/").content.decode()


def test_the_admin_lists_every_model(version, db):
    from django.contrib.auth import get_user_model

    admin_user = get_user_model().objects.create_superuser("root", "root@example.org", "a-long-password-9")
    client = Client()
    client.force_login(admin_user)
    for path in (
        "benchmarks/benchmark",
        "benchmarks/benchmarkversion",
        "submissions/submission",
        "submissions/evaluationrun",
        "rankings/leaderboardentry",
        "rankings/leaderboardsnapshot",
        "rankings/ladderrelease",
        "authtoken/tokenproxy",
    ):
        assert client.get(f"/admin/{path}/").status_code == 200, path
    assert client.get(f"/admin/benchmarks/benchmarkversion/{version.pk}/change/").status_code == 200
