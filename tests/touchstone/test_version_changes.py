"""The new version's "Changes from" section, its API, and a home page that never goes empty."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from evaluation.spec import load_benchmark
from tests.touchstone.ledger import capture_enqueued, record_probabilities, synthetic_probabilities
from tests.touchstone.reevaluation_fixture import publish_next
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.rankings.changes import version_changes
from touchstone.rankings.services import refresh_leaderboard
from touchstone.storage import write_file_atomically
from touchstone.submissions.models import EvaluationRun, Submission

ACCURACIES = (0.97, 0.85, 0.6)


def score_row(submission: Submission, probabilities: np.ndarray) -> None:
    """Record a queued row as scored with these outcomes, as the worker would."""
    test = load_benchmark(submission.version.folder).load_split("test")
    buffer = io.BytesIO()
    np.savez(buffer, probabilities=probabilities, item_ids=test.item_ids)
    relative = f"outcomes/{submission.pk}/test.npz"
    write_file_atomically(relative, [buffer.getvalue()])
    with transaction.atomic():
        EvaluationRun.objects.create(
            submission=submission, attempt=1, worker="test", outcome="scored", outcomes_path=relative
        )
        Submission.objects.filter(pk=submission.pk).update(status=Submission.Status.SCORED, scored_at=timezone.now())
        BenchmarkVersion.objects.filter(pk=submission.version_id).mark_leaderboard_stale()


@pytest.fixture
def republished(version, researcher, other_researcher, django_user_model, monkeypatch, digits_folder, tmp_path,
                django_capture_on_commit_callbacks):  # fmt: skip
    """Three teams on 1.0.0 (best first), then 1.1.0 published with their re-evaluations queued: (1.1.0, labels)."""
    capture_enqueued(monkeypatch)
    third = django_user_model.objects.create_user("linus", "linus@example.org", "a-long-password-3")
    labels = load_benchmark(version.folder).load_split("test").labels
    for seed, (owner, accuracy) in enumerate(zip((researcher, other_researcher, third), ACCURACIES, strict=True)):
        record_probabilities(
            version, owner, synthetic_probabilities(labels, accuracy=accuracy, seed=seed), name=owner.username
        )
    refresh_leaderboard(version_id=version.pk)
    with django_capture_on_commit_callbacks(execute=True):
        new = publish_next(digits_folder, tmp_path / "digits")
    return new, labels


def score_reversed(new: BenchmarkVersion, labels: np.ndarray) -> dict[str, Submission]:
    """Score the re-evaluations so that the order of the three teams is reversed on the new version."""
    copies = {copy.team: copy for copy in Submission.objects.filter(version=new)}
    for seed, (team, accuracy) in enumerate(zip(("linus", "grace", "ada"), ACCURACIES, strict=True)):
        score_row(copies[team], synthetic_probabilities(labels, accuracy=accuracy, seed=10 + seed))
    refresh_leaderboard(version_id=new.pk)
    return copies


def test_until_every_re_evaluation_is_in_it_says_how_many_are_pending_and_shows_no_ranks(republished, empty_cache):
    new, _ = republished
    changes = version_changes(new)
    assert (changes["previous"], changes["pending"], changes["complete"]) == ("1.0.0", 3, False)
    assert changes["entries"] == [] and changes["tau"] is None
    page = Client().get(new.get_absolute_url()).content.decode()
    assert "Changes from 1.0.0" in page and "<strong>3</strong> still pending" in page
    assert "from digits 1.0.0, queued behind earlier re-evaluations" in page or "next to run" in page


def test_a_reversed_order_gives_tau_minus_one_and_lists_the_pair_that_flipped_beyond_doubt(republished, empty_cache):
    new, labels = republished
    copies = score_reversed(new, labels)
    changes = version_changes(new)
    assert changes["complete"] and changes["old_part"] == changes["new_part"] == "feedback"
    ranks = {entry["team"]: (entry["old_rank"], entry["new_rank"]) for entry in changes["entries"]}
    assert ranks == {"ada": (1, 3), "grace": (2, 2), "linus": (3, 1)}
    assert changes["tau"]["value"] == pytest.approx(-1.0)
    assert changes["tau"]["ci_low"] <= -1.0 + 1e-12 and changes["tau"]["ci_high"] < 0
    flipped = {(pair["ahead_before"], pair["ahead_after"]) for pair in changes["flipped"]}
    # 0.97 against 0.6 on ~300 feedback items is far beyond the noise on both versions.
    assert (copies["ada"].pk, copies["linus"].pk) in flipped
    first = next(
        p
        for p in changes["flipped"]
        if p["ahead_before"] == copies["ada"].pk and p["ahead_after"] == copies["linus"].pk
    )
    assert first["old_difference"]["ci_low"] > 0 > first["new_difference"]["ci_high"]
    # Both versions are open: the differences are shown on the 1/n grid like any open comparison,
    # and the marginal bootstrap interval of tau is not shown.
    n_items = new.snapshot.n_feedback_items
    for bound in ("value", "ci_low", "ci_high"):
        assert first["new_difference"][bound] * n_items == pytest.approx(
            round(first["new_difference"][bound] * n_items)
        )
    assert changes["tau_marginal"] is None
    page = Client().get(new.get_absolute_url()).content.decode()
    assert 'id="tau"' in page and 'id="flipped"' in page


def test_a_re_evaluation_the_ladder_held_is_not_compared_so_nothing_it_scored_is_shown(
    republished, researcher, empty_cache
):
    new, labels = republished
    # Ada's team uploads a perfect model to 1.1.0 first: its re-evaluation, scored after, is held.
    record_probabilities(new, researcher, synthetic_probabilities(labels, accuracy=1.0, seed=99), name="perfect")
    refresh_leaderboard(version_id=new.pk)
    score_reversed(new, labels)
    changes = version_changes(new)
    assert [row["team"] for row in changes["not_compared"]] == ["ada"]
    assert "held by the Ladder" in changes["not_compared"][0]["reason"]
    assert {entry["team"] for entry in changes["entries"]} == {"grace", "linus"}
    assert all(entry["new_value"] is not None for entry in changes["entries"])


def test_the_api_serves_the_changes_and_the_schema_documents_them(republished, empty_cache):
    new, labels = republished
    score_reversed(new, labels)
    client = APIClient()
    response = client.get("/api/v1/benchmarks/digits/versions/1.1.0/changes/")
    assert response.status_code == 200
    body = response.json()
    assert body["tau"]["value"] == pytest.approx(-1.0) and len(body["entries"]) == 3
    assert client.get("/api/v1/benchmarks/digits/versions/1.0.0/changes/").status_code == 404
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert "/api/v1/benchmarks/{slug}/versions/{version}/changes/" in schema["paths"]


def test_the_home_page_shows_the_previous_board_while_the_new_version_re_evaluates(republished, empty_cache):
    new, labels = republished
    page = Client().get("/").content.decode()
    assert "v1.1.0 published, re-evaluating 3 entries" in page
    assert "No scored entries yet" not in page and ">ada<" in page
    score_reversed(new, labels)
    page = Client().get("/").content.decode()
    assert "re-evaluating" not in page and "No scored entries yet" not in page


def test_the_submission_page_and_the_api_say_what_a_re_evaluation_waits_for(republished, empty_cache):
    new, _ = republished
    copy = Submission.objects.filter(version=new, dispatched_at__isnull=True).order_by("pk").first()
    origin = copy.reevaluation_of
    body = APIClient().get(f"/api/v1/submissions/{copy.pk}/")
    # Queued rows are visible to their owner only.
    assert body.status_code == 404
    client = APIClient()
    client.force_authenticate(copy.owner)
    data = client.get(f"/api/v1/submissions/{copy.pk}/").json()
    assert data["origin"] == "reevaluation" and data["reevaluation"]["of"] == origin.pk
    assert data["reevaluation"]["from_version"] == "1.0.0"
    assert (
        data["progress_message"]
        == f"re-evaluation of #{origin.pk} from digits 1.0.0, queued behind earlier re-evaluations"
    )
    browser = Client()
    browser.force_login(copy.owner)
    page = browser.get(copy.get_absolute_url()).content.decode()
    assert f"re-evaluation of #{origin.pk} from" in page and 'id="reevaluation"' in page


def test_a_section_read_before_the_new_board_is_stored_is_not_served_after_it(republished, empty_cache):
    new, labels = republished
    copies = {copy.team: copy for copy in Submission.objects.filter(version=new)}
    for seed, (team, accuracy) in enumerate(zip(("linus", "grace", "ada"), ACCURACIES, strict=True)):
        score_row(copies[team], synthetic_probabilities(labels, accuracy=accuracy, seed=10 + seed))
    # Scored, but the Ladder has not released them yet: nothing of theirs may be shown.
    early = version_changes(new)
    assert early["complete"] and early["entries"] == [] and len(early["not_compared"]) == 3
    refresh_leaderboard(version_id=new.pk)
    assert len(version_changes(BenchmarkVersion.objects.get(pk=new.pk))["entries"]) == 3
