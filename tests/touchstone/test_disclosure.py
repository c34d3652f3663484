"""What an open version shows: numbers from released submissions only, through one module."""

from __future__ import annotations

import re

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from evaluation.metrics import per_item_outcomes
from evaluation.statistics import minimum_detectable_effect, typical_discordance_rate
from tests.touchstone.conftest import api_client_for
from tests.touchstone.ledger import probabilities_of, record_probabilities
from touchstone.rankings.models import LadderRelease, LeaderboardSnapshot
from touchstone.rankings.services import freeze_version, recompute_leaderboard
from touchstone.submissions.outcomes import submission_outcomes

# Comparison throttles count in the cache: each test starts with none counted.
pytestmark = pytest.mark.usefixtures("empty_cache")


@pytest.fixture
def board(version, hidden) -> dict:
    """Two teams: ``ada`` with a released model and two held ones, ``grace`` with one model."""
    ada = get_user_model().objects.create_user("ada")
    grace = get_user_model().objects.create_user("grace")
    released = record_probabilities(version, ada, hidden.wrong_on(40), name="released")
    rng = np.random.default_rng(1)
    held = []
    for k in range(2):
        # Each held model differs from the released one on a few items, at random.
        predictions = hidden.wrong_on(40).argmax(axis=1)
        changed = rng.choice(hidden.feedback, size=6, replace=False)
        predictions[changed] = rng.integers(0, 10, 6)
        held.append(record_probabilities(version, ada, probabilities_of(predictions), name=f"held {k}"))
    other = record_probabilities(version, grace, hidden.wrong_on(60), name="grace's")
    recompute_leaderboard(version=version)
    assert [r.improved for r in LadderRelease.objects.order_by("sequence")] == [True, False, False, True]
    return {"ada": ada, "released": released, "held": held, "other": other}


def api(version, path: str, client: APIClient | None = None):
    return (client or APIClient()).get(f"/api/v1/benchmarks/digits/versions/{version.version}/{path}")


def test_a_held_submission_shows_its_owner_no_score_interval_or_rank(version, board, hidden):
    client = api_client_for(board["ada"])
    for held in board["held"]:
        body = client.get(f"/api/v1/submissions/{held.pk}/").json()
        assert body["status"] == "scored"
        assert body["metrics"] == {} and body["ranking"] is None
        assert body["ladder"] == {"metric": "accuracy", "released": None, "improved": False}
        client.force_login(board["ada"])
        page = client.get(f"/submissions/{held.pk}/").content.decode()
        assert "did not beat its team's best" in page
        # Not its score, not the team's: no number with four decimals on the page at all.
        assert not re.search(r"\b0\.\d{4}\b", page)


def test_a_released_submission_shows_the_value_and_interval_the_ladder_released(version, board, hidden):
    release = LadderRelease.objects.get(submission=board["released"])
    body = APIClient().get(f"/api/v1/submissions/{board['released'].pk}/").json()
    assert body["metrics"] == {
        "accuracy": {"value": release.released, "ci_low": release.ci_low, "ci_high": release.ci_high}
    }
    assert release.released == pytest.approx(hidden.accuracy_when_wrong_on(40))
    assert body["ladder"]["improved"] is True and body["ranking"]["rank"] == 1
    assert body["ranking"]["p_value_vs_leader"] is None


def test_the_open_board_takes_its_discordance_and_detectable_effect_from_released_entries(version, board, hidden):
    payload = api(version, "leaderboard/").json()
    assert [e["model_name"] for e in payload["entries"]] == ["released", "grace's"]
    assert all(e["p_value_vs_leader"] is None and e["p_value_vs_next"] is None for e in payload["entries"])
    mask = np.zeros(hidden.labels.shape[0], dtype=bool)
    mask[hidden.feedback] = True
    correct = np.stack(
        [
            per_item_outcomes(submission_outcomes(s)["probabilities"][mask], hidden.labels[mask])["correct"]
            for s in (board["released"], board["other"])
        ],
        axis=1,
    )
    rate = typical_discordance_rate(correct)
    assert payload["discordance_rate"] == pytest.approx(rate)
    assert payload["minimum_detectable_effect"] == pytest.approx(minimum_detectable_effect(mask.sum(), rate))
    # Over every scored submission (the held ones too) the rate would differ: the test can tell.
    everything = [board["released"], *board["held"], board["other"]]
    all_correct = np.stack(
        [
            per_item_outcomes(submission_outcomes(s)["probabilities"][mask], hidden.labels[mask])["correct"]
            for s in everything
        ],
        axis=1,
    )
    assert typical_discordance_rate(all_correct) != pytest.approx(rate)


def test_every_number_of_an_open_board_lies_on_the_one_over_n_grid(version, board):
    payload = api(version, "leaderboard/").json()
    n_items = payload["n_items"]
    for entry in payload["entries"]:
        for value in entry["metrics"]["accuracy"].values():
            assert value * n_items == pytest.approx(round(value * n_items), abs=1e-6)
    comparison = api(version, f"compare/?a={board['released'].pk}&b={board['other'].pk}").json()
    for value in comparison["difference"].values():
        assert value * n_items == pytest.approx(round(value * n_items), abs=1e-6)


def test_compare_refuses_a_held_submission_while_the_version_is_open(version, board):
    held = board["held"][0]
    for a, b in ((held.pk, board["other"].pk), (board["released"].pk, held.pk)):
        response = api(version, f"compare/?a={a}&b={b}", api_client_for(board["ada"]))
        assert response.status_code == 400
        assert response.json()["detail"].startswith(f"submission {held.pk} is not on the open leaderboard")
        page = APIClient().get(f"/benchmarks/digits/{version.version}/compare/?a={a}&b={b}").content.decode()
        assert 'id="difference"' not in page
    assert api(version, f"compare/?a={board['released'].pk}&b={board['other'].pk}").status_code == 200


def test_a_frozen_version_compares_and_shows_every_submission(version, board):
    freeze_version(version=version)
    held = board["held"][0]
    body = api(version, f"compare/?a={held.pk}&b={board['other'].pk}").json()
    assert body["part"] == "final" and body["p_value"] is not None and body["a_only_correct"] is not None
    assert APIClient().get(f"/api/v1/submissions/{held.pk}/").json()["scores_part"] == "final"


def test_the_open_board_shows_only_entries_the_log_holds_as_released(version, board):
    LadderRelease.objects.all()._raw_delete(LadderRelease.objects.db)  # a database from before the log
    assert api(version, "leaderboard/").json()["entries"] == []
    assert LeaderboardSnapshot.objects.filter(version=version).exists()


def test_my_submissions_tells_the_owner_which_submissions_the_ladder_released_and_which_it_held(board):
    client = Client()
    client.force_login(board["ada"])
    page = client.get("/submissions/").content.decode()

    def outcome(submission) -> str:
        row = re.search(rf'<tr><td>{submission.pk}</td>.*?<td class="ladder-outcome">(.*?)</td>', page, re.S)
        assert row, f"submission {submission.pk} is not listed"
        return re.sub(r"<[^>]+>", "", row.group(1)).strip()

    assert outcome(board["released"]) == "released"
    assert [outcome(held) for held in board["held"]] == ["held", "held"]
