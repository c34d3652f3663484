"""Marking final submissions: up to two per team, by their owner, on scored submissions, until the freeze."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from tests.touchstone.conftest import api_client_for
from tests.touchstone.ledger import record_result
from touchstone.rankings.disclosure import is_released
from touchstone.rankings.services import freeze_version, recompute_leaderboard
from touchstone.submissions.models import Submission


def final_url(submission: Submission) -> str:
    return f"/api/v1/submissions/{submission.pk}/final/"


def final_of(client: APIClient, submission: Submission) -> str | None:
    response = client.get(f"/api/v1/submissions/{submission.pk}/")
    assert response.status_code == 200, response.content
    return response.json()["final"]


def assert_refused(response, *words: str) -> None:
    assert response.status_code == 409, response.content
    body = response.json()
    assert set(body) == {"detail", "field"} and body["field"] is None
    for word in words:
        assert word in body["detail"]


def test_the_owner_marks_and_unmarks_a_final_submission_through_the_api(version, researcher):
    first = record_result(version, researcher, accuracy=0.8, seed=1)
    second = record_result(version, researcher, accuracy=0.5, seed=2)
    recompute_leaderboard(version=version)
    client = api_client_for(researcher)
    # Nothing marked: the latest released submission stands for the team (the second did not
    # beat the first, so the Ladder did not release it).
    assert is_released(first) and not is_released(second)
    assert (final_of(client, first), final_of(client, second)) == ("default", None)

    marked = client.post(final_url(second))
    assert marked.status_code == 200, marked.content
    assert marked.json()["final"] == "marked"
    assert (final_of(client, first), final_of(client, second)) == (None, "marked")
    assert Submission.objects.get(pk=second.pk).final_marked_at is not None

    unmarked = client.delete(final_url(second))
    assert unmarked.status_code == 200 and unmarked.json()["final"] is None
    assert (final_of(client, first), final_of(client, second)) == ("default", None)
    assert Submission.objects.get(pk=second.pk).final_marked_at is None


def test_only_the_owner_can_choose_final_submissions(version, researcher, other_researcher):
    submission = record_result(version, researcher, accuracy=0.8, seed=1)
    assert APIClient().post(final_url(submission)).status_code == 401
    refused = api_client_for(other_researcher).post(final_url(submission))
    assert refused.status_code == 403 and "only the team that submitted it" in refused.json()["detail"]
    assert api_client_for(other_researcher).delete(final_url(submission)).status_code == 403
    assert Submission.objects.get(pk=submission.pk).final_marked_at is None


def test_a_third_final_submission_is_refused_until_one_is_unmarked(version, researcher):
    first, second, third = (record_result(version, researcher, accuracy=0.8, seed=seed) for seed in (1, 2, 3))
    client = api_client_for(researcher)
    assert client.post(final_url(first)).status_code == 200
    assert client.post(final_url(second)).status_code == 200
    assert client.post(final_url(second)).status_code == 200  # marking a marked one again changes nothing

    assert_refused(client.post(final_url(third)), f"#{first.pk} and #{second.pk}", "at most 2", "unmark")
    assert Submission.objects.get(pk=third.pk).final_marked_at is None

    assert client.delete(final_url(first)).status_code == 200
    assert client.post(final_url(third)).status_code == 200
    assert set(Submission.objects.filter(final_marked_at__isnull=False).values_list("pk", flat=True)) == {
        second.pk,
        third.pk,
    }


def test_a_withdrawn_submission_frees_its_place_and_cannot_be_marked_again(version, researcher):
    first, second, third = (record_result(version, researcher, accuracy=0.8, seed=seed) for seed in (1, 2, 3))
    client = api_client_for(researcher)
    for submission in (first, second):
        assert client.post(final_url(submission)).status_code == 200
    assert client.post(f"/api/v1/submissions/{first.pk}/withdraw/").status_code == 200
    assert client.post(final_url(third)).status_code == 200
    assert_refused(client.post(final_url(first)), "withdrawn")


def test_a_failed_or_unfinished_submission_cannot_be_marked(version, researcher):
    client = api_client_for(researcher)
    for status, words in (
        ("failed", "failed"),
        ("queued", "still being evaluated"),
        ("running", "still being evaluated"),
    ):
        submission = Submission.objects.create(
            owner=researcher,
            version=version,
            model_name=status,
            team="ada",
            model_path="unused.pt",
            model_format="torchscript",
            sha256="0" * 64,
            size_bytes=1,
            status=status,
        )
        assert_refused(client.post(final_url(submission)), words)
        assert Submission.objects.get(pk=submission.pk).final_marked_at is None


def test_a_baseline_is_its_own_entry_and_cannot_be_marked(version, researcher):
    baseline = record_result(version, researcher, accuracy=0.8, seed=1, is_baseline=True)
    assert_refused(api_client_for(researcher).post(final_url(baseline)), "baseline")


def test_final_submissions_are_fixed_once_the_version_is_frozen(version, researcher):
    marked = record_result(version, researcher, accuracy=0.8, seed=1)
    other = record_result(version, researcher, accuracy=0.7, seed=2)
    client = api_client_for(researcher)
    assert client.post(final_url(marked)).status_code == 200
    freeze_version(version=version)

    assert_refused(client.post(final_url(other)), "frozen")
    assert_refused(client.delete(final_url(marked)), "frozen")
    assert Submission.objects.get(pk=marked.pk).final_marked_at is not None
    assert Submission.objects.get(pk=other.pk).final_marked_at is None


def test_a_teams_final_choice_is_its_own_until_the_freeze(version, researcher, other_researcher):
    submission = record_result(version, researcher, accuracy=0.8, seed=1)
    assert api_client_for(researcher).post(final_url(submission)).status_code == 200
    assert final_of(APIClient(), submission) is None
    assert final_of(api_client_for(other_researcher), submission) is None
    freeze_version(version=version)
    assert final_of(APIClient(), submission) == "marked"
    assert final_of(api_client_for(other_researcher), submission) == "marked"


def test_the_submission_page_marks_and_unmarks_and_my_submissions_shows_the_marker(version, researcher):
    submission = record_result(version, researcher, accuracy=0.8, seed=1)
    record_result(version, researcher, accuracy=0.8, seed=2)
    page = Client()
    page.force_login(researcher)
    before = page.get(f"/submissions/{submission.pk}/").content.decode()
    assert "Mark as a final submission" in before

    response = page.post(f"/submissions/{submission.pk}/final/", {"action": "mark"}, follow=True)
    assert "is now one of your team&#x27;s final submissions" in response.content.decode()
    assert Submission.objects.get(pk=submission.pk).final_marked_at is not None
    after = page.get(f"/submissions/{submission.pk}/").content.decode()
    assert 'data-final="marked"' in after and "Unmark as final" in after
    listing = page.get("/submissions/").content.decode()
    assert listing.count('<span class="tag">final</span>') == 1

    page.post(f"/submissions/{submission.pk}/final/", {"action": "unmark"})
    assert Submission.objects.get(pk=submission.pk).final_marked_at is None
    assert '<span class="tag">final</span>' not in page.get("/submissions/").content.decode()


def test_the_page_explains_a_refused_mark_and_hides_the_button_once_frozen(version, researcher):
    submissions = [record_result(version, researcher, accuracy=0.8, seed=seed) for seed in (1, 2, 3)]
    page = Client()
    page.force_login(researcher)
    for submission in submissions[:2]:
        page.post(f"/submissions/{submission.pk}/final/", {"action": "mark"})
    refused = page.post(f"/submissions/{submissions[2].pk}/final/", {"action": "mark"}, follow=True)
    assert "a team marks at most 2" in refused.content.decode()
    assert Submission.objects.get(pk=submissions[2].pk).final_marked_at is None

    freeze_version(version=version)
    frozen = page.get(f"/submissions/{submissions[2].pk}/").content.decode()
    assert "Mark as a final submission" not in frozen and "Unmark as final" not in frozen
    marked = page.get(f"/submissions/{submissions[0].pk}/").content.decode()
    assert "marked it before the freeze" in marked and "Unmark as final" not in marked


def test_another_researchers_page_form_cannot_choose_for_the_team(version, researcher):
    submission = record_result(version, researcher, accuracy=0.8, seed=1)
    intruder = get_user_model().objects.create_user("mallory")
    page = Client()
    page.force_login(intruder)
    assert page.post(f"/submissions/{submission.pk}/final/", {"action": "mark"}).status_code == 404
    assert Submission.objects.get(pk=submission.pk).final_marked_at is None
