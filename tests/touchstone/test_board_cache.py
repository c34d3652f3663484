"""The leaderboard page and API serve the public board from the cache: what one viewer sees of
their own never reaches another, and a change to the board shows at once."""

from __future__ import annotations

import socket

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from rest_framework.test import APIClient

from tests.touchstone.conftest import upload
from tests.touchstone.test_benchmark_page import next_version_folder
from touchstone.benchmarks.services import publish_benchmark
from touchstone.rankings import board_cache
from touchstone.rankings.services import recompute_leaderboard
from touchstone.submissions.models import Submission
from touchstone.submissions.scoring import score_submission
from touchstone.submissions.services import submit_model, withdraw_submission

pytestmark = pytest.mark.usefixtures("reused_sandbox_runs", "empty_cache")


def scored(version, owner, content: bytes, name: str, team: str) -> Submission:
    submission = submit_model(owner=owner, version=version, uploaded_file=upload(content), model_name=name, team=team)
    score_submission(submission_id=submission.pk)
    recompute_leaderboard(version=version)
    submission.refresh_from_db()
    return submission


def page(version, client: Client | None = None) -> str:
    response = (client or Client()).get(version.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


def api_names(version) -> list[str]:
    url = f"/api/v1/benchmarks/{version.benchmark.slug}/versions/{version.version}/leaderboard/"
    return [entry["model_name"] for entry in APIClient().get(url).json()["entries"]]


@pytest.fixture
def maintainer(version):
    user = get_user_model().objects.create_user("mia", "mia@example.org", "a-long-password-2")
    version.benchmark.maintainers.add(user)
    client = Client()
    client.force_login(user)
    return client


def test_a_maintainers_view_leaves_nothing_of_theirs_for_a_visitor_and_the_reverse(
    version, researcher, good_model_bytes, maintainer
):
    scored(version, researcher, good_model_bytes, "Centroid classifier", "alpha")
    theirs = page(version, maintainer)
    assert 'id="freeze-button"' in theirs and 'id="telemetry-link"' in theirs
    token = maintainer.cookies["csrftoken"].value
    visitors = page(version)
    assert "Centroid classifier" in visitors
    assert 'id="freeze-button"' not in visitors and 'id="telemetry-link"' not in visitors
    assert token not in visitors and "csrfmiddlewaretoken" not in visitors
    # And a visitor's view, cached first, takes nothing from the maintainer's page away.
    assert 'id="freeze-button"' in page(version, maintainer)


def test_the_board_is_built_once_while_nothing_changes(version, researcher, good_model_bytes, monkeypatch):
    scored(version, researcher, good_model_bytes, "Centroid classifier", "alpha")
    builds = []
    build = board_cache.disclosure.leaderboard
    monkeypatch.setattr(board_cache.disclosure, "leaderboard", lambda found: builds.append(found.pk) or build(found))
    for _ in range(3):
        assert "Centroid classifier" in page(version)
        assert api_names(version) == ["Centroid classifier"]
    assert builds == [version.pk]


def test_a_new_result_shows_as_soon_as_its_board_is_stored(version, researcher, good_model_bytes):
    scored(version, researcher, good_model_bytes, "First model", "alpha")
    assert "Second model" not in page(version)
    assert api_names(version) == ["First model"]
    scored(version, researcher, good_model_bytes, "Second model", "beta")
    assert "First model" in page(version) and "Second model" in page(version)
    assert sorted(api_names(version)) == ["First model", "Second model"]


def test_a_withdrawn_entry_leaves_the_page_and_the_api_before_the_recompute(version, researcher, good_model_bytes):
    kept = scored(version, researcher, good_model_bytes, "Kept model", "alpha")
    gone = scored(version, researcher, good_model_bytes, "Withdrawn model", "beta")
    assert "Withdrawn model" in page(version)
    assert sorted(api_names(version)) == ["Kept model", "Withdrawn model"]
    withdraw_submission(submission=gone)
    assert "Withdrawn model" not in page(version) and kept.model_name in page(version)
    assert api_names(version) == ["Kept model"]


def test_a_model_name_corrected_in_the_admin_shows_at_once(version, researcher, good_model_bytes):
    submission = scored(version, researcher, good_model_bytes, "Rude name", "alpha")
    assert "Rude name" in page(version)
    submission.model_name = "Corrected name"
    submission.save()
    assert "Corrected name" in page(version) and "Rude name" not in page(version)
    assert api_names(version) == ["Corrected name"]


def test_the_page_is_served_when_the_cache_cannot_be_reached(version, researcher, good_model_bytes):
    scored(version, researcher, good_model_bytes, "Centroid classifier", "alpha")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": f"redis://127.0.0.1:{port}/0"}
    with override_settings(CACHES={"default": unreachable}):
        assert "Centroid classifier" in page(version)


def test_a_version_published_later_shows_on_the_cached_page_of_the_one_it_supersedes(version, digits_folder, tmp_path):
    assert 'id="superseded"' not in page(version)
    newer = publish_benchmark(folder=next_version_folder(digits_folder, tmp_path))
    old_page = page(version)
    assert 'id="superseded"' in old_page and f'href="{newer.get_absolute_url()}"' in old_page
