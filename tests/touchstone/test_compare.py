"""Comparisons: adjacent ranks stored by the recompute, any other pair computed at a rate and stored."""

from __future__ import annotations

import os
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from tests.touchstone.conftest import api_client_for
from tests.touchstone.ledger import record_result
from touchstone.rankings import comparisons
from touchstone.rankings.comparisons import compare_submissions
from touchstone.rankings.models import PairComparison
from touchstone.rankings.queries import leaderboard_entries
from touchstone.rankings.services import freeze_version, recompute_leaderboard


@pytest.fixture(autouse=True)
def no_throttle_counts():
    """Throttle counters live in the cache: each test starts and leaves with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def low_compare_rates(monkeypatch):
    # DRF's throttles read their rates once at import: set them on the class, as settings would.
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {
            "anon": "300/minute",
            "user": "600/minute",
            "uploads": "100/hour",
            "compare_anon": "2/hour",
            "compare": "4/hour",
        },
    )


@pytest.fixture
def board(version) -> list[int]:
    """Four teams ranked on the open version: submission ids from first to last."""
    for index, accuracy in enumerate((0.95, 0.85, 0.75, 0.65)):
        owner = get_user_model().objects.create_user(f"team{index}")
        record_result(version, owner, accuracy=accuracy, seed=index)
    recompute_leaderboard(version=version)
    return [entry.submission_id for entry in leaderboard_entries(version)]


def compare_url(version, a: int, b: int) -> str:
    return f"/api/v1/benchmarks/digits/versions/{version.version}/compare/?a={a}&b={b}"


def page_url(version, a: int, b: int) -> str:
    return f"/benchmarks/digits/{version.version}/compare/?a={a}&b={b}"


@pytest.fixture
def no_bootstrap(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a stored comparison must not be computed again")

    monkeypatch.setattr(comparisons, "compare_entries", refuse)


def test_the_recompute_stores_the_comparisons_of_adjacent_ranks(version, board):
    stored = {(c.a_id, c.b_id): c.result for c in PairComparison.objects.filter(version=version, part="feedback")}
    assert set(stored) == {(board[0], board[1]), (board[1], board[2]), (board[2], board[3])}
    # The same numbers as a comparison computed on request.
    PairComparison.objects.all().delete()
    for (a, b), result in stored.items():
        submissions = {s.pk: s for s in version.submissions.filter(pk__in=[a, b])}
        assert compare_submissions(version=version, a=submissions[a], b=submissions[b]) == result
        assert result["part"] == "feedback" and result["a_only_correct"] is None


def test_a_frozen_board_stores_exact_comparisons_of_its_adjacent_ranks(version, board):
    freeze_version(version=version)
    final = PairComparison.objects.filter(version=version, part="final")
    assert final.count() == 3
    assert all(c.result["a_only_correct"] is not None for c in final)


def test_adjacent_pairs_are_served_from_storage_without_counting_against_the_rate(
    version, board, low_compare_rates, no_bootstrap
):
    client = APIClient()
    for _ in range(3):
        for a, b in pairwise(board):
            response = client.get(compare_url(version, a, b))
            assert response.status_code == 200
            assert response.json()["a"] == a
    page = Client().get(page_url(version, board[0], board[1]))
    assert page.status_code == 200 and 'id="difference"' in page.content.decode()


def test_a_visitor_computes_new_pairs_up_to_the_anonymous_rate_and_then_gets_429(version, board, low_compare_rates):
    client = APIClient()
    first, second, third = (board[0], board[2]), (board[0], board[3]), (board[1], board[3])
    assert client.get(compare_url(version, *first)).status_code == 200
    assert client.get(compare_url(version, *second)).status_code == 200
    refused = client.get(compare_url(version, *third))
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert refused.json() == {"detail": refused.json()["detail"], "field": None}
    assert refused.json()["detail"].startswith("Too many requests")
    assert not PairComparison.objects.filter(version=version, a_id=third[0], b_id=third[1]).exists()
    # What was computed is stored: asking again costs nothing and is not refused.
    assert client.get(compare_url(version, *first)).status_code == 200


def test_a_researcher_has_the_higher_rate_of_their_own(version, board, low_compare_rates):
    researcher = get_user_model().objects.create_user("ada")
    client = api_client_for(researcher)
    pairs = [(board[0], board[2]), (board[0], board[3]), (board[1], board[3]), (board[2], board[0])]
    assert [client.get(compare_url(version, a, b)).status_code for a, b in pairs] == [200, 200, 200, 200]
    assert client.get(compare_url(version, board[3], board[0])).status_code == 429
    # A visitor from the same address still has the anonymous budget.
    assert APIClient().get(compare_url(version, board[3], board[1])).status_code == 200


def test_the_compare_page_counts_against_the_same_limit_as_the_api(version, board, low_compare_rates):
    api = APIClient()
    assert api.get(compare_url(version, board[0], board[2])).status_code == 200
    assert api.get(compare_url(version, board[0], board[3])).status_code == 200
    page = Client().get(page_url(version, board[1], board[3]))
    assert page.status_code == 429 and int(page["Retry-After"]) > 0
    text = page.content.decode()
    assert "Try again in" in text and 'name="a"' in text and 'id="difference"' not in text
    # A stored pair still opens on the page.
    assert Client().get(page_url(version, board[0], board[2])).status_code == 200


def test_a_bad_pick_is_explained_before_anything_is_counted(version, board, low_compare_rates):
    client = APIClient()
    for _ in range(4):
        response = client.get(compare_url(version, board[0], board[0]))
        assert response.status_code == 400 and "two different" in response.json()["detail"]
    assert client.get(compare_url(version, board[0], board[2])).status_code == 200


def test_the_comparison_rates_come_from_the_environment(tmp_path):
    environment = {
        **os.environ,
        "TOUCHSTONE_THROTTLE_COMPARE": "7/minute",
        "TOUCHSTONE_THROTTLE_COMPARE_ANON": "3/hour",
        "TOUCHSTONE_DATA_DIR": str(tmp_path),
    }
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "rates = settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']; print(rates['compare'], rates['compare_anon'])"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code],
        env={**environment, "DJANGO_SETTINGS_MODULE": "touchstone.settings"},
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == ["7/minute", "3/hour"]
