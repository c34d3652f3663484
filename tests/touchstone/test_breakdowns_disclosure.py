"""A submission's breakdowns follow the release rule: feedback part while open, final part once frozen."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from evaluation.breakdowns import part_breakdowns
from evaluation.spec import load_benchmark
from tests.touchstone.conftest import api_client_for
from tests.touchstone.ledger import Hidden, probabilities_of, record_probabilities
from touchstone.rankings import breakdowns as breakdowns_module
from touchstone.rankings.models import LadderRelease, LeaderboardEntry
from touchstone.rankings.services import freeze_version, recompute_leaderboard
from touchstone.submissions.outcomes import submission_outcomes

pytestmark = pytest.mark.usefixtures("empty_cache")


@pytest.fixture
def board(version, hidden) -> dict:
    """``ada``'s first model is released; her second, barely different, is held."""
    ada = get_user_model().objects.create_user("ada")
    released = record_probabilities(version, ada, hidden.wrong_on(40), name="released")
    predictions = hidden.predictions_wrong_on(40)
    predictions[hidden.feedback[40:43]] = (hidden.labels[hidden.feedback[40:43]] + 2) % 10
    held = record_probabilities(version, ada, probabilities_of(predictions), name="held")
    recompute_leaderboard(version=version)
    assert [r.improved for r in LadderRelease.objects.order_by("sequence")] == [True, False]
    return {"ada": ada, "released": released, "held": held}


def expected(version, submission, part: str, *, with_clusters: bool = True) -> dict:
    """The library's breakdowns of the submission's stored outcomes on one part, as JSON.

    With the split's clusters, as the site computes them; ``with_clusters=False`` ignores them.
    """
    benchmark = load_benchmark(version.folder)
    test = benchmark.load_split("test")
    mask = np.zeros(test.labels.shape[0], dtype=bool)
    mask[Hidden(version).feedback] = True
    if part == "final":
        mask = ~mask
    if not with_clusters:
        test = dataclasses.replace(
            test, metadata={name: column for name, column in test.metadata.items() if name != "cluster"}
        )
    result = part_breakdowns(
        submission_outcomes(submission)["probabilities"],
        test,
        benchmark.spec,
        content_hash=version.content_hash,
        part=part,
        mask=mask,
    )
    return json.loads(json.dumps(result))


def served(submission, client: APIClient | None = None) -> dict | None:
    return (client or APIClient()).get(f"/api/v1/submissions/{submission.pk}/").json()["breakdowns"]


def test_a_released_submission_on_an_open_version_gets_breakdowns_on_the_feedback_part_only(version, board, hidden):
    body = served(board["released"])
    assert body == expected(version, board["released"], "feedback")
    assert body["n_items"] == hidden.feedback.size
    # Its 40 errors are all on the feedback part: over the whole split the accuracy would be higher.
    assert body["accuracy"] == pytest.approx(hidden.accuracy_when_wrong_on(40))
    assert np.trace(np.array(body["per_class"]["confusion"])) == hidden.feedback.size - 40
    assert set(body["slices"]) == {"ink"} and body["drift"] is None
    assert len(body["reliability"]) == 15


def test_a_held_submission_gets_no_breakdowns_not_even_for_its_owner(board):
    assert served(board["held"]) is None
    assert served(board["held"], api_client_for(board["ada"])) is None
    page = api_client_for(board["ada"])
    page.force_login(board["ada"])
    assert 'id="breakdowns"' not in page.get(f"/submissions/{board['held'].pk}/").content.decode()


def test_a_submission_the_ladder_has_not_ruled_on_gets_no_breakdowns(version, board, hidden):
    later = record_probabilities(version, board["ada"], hidden.wrong_on(10), name="later")
    assert served(later, api_client_for(board["ada"])) is None


def test_a_frozen_version_shows_every_scored_submission_on_the_final_part(version, board, hidden):
    freeze_version(version=version)
    for name in ("released", "held"):
        body = served(board[name])
        assert body == expected(version, board[name], "final")
        assert body["part"] == "final" and body["n_items"] == hidden.labels.size - hidden.feedback.size
    # Every error is on the feedback part, so the final part is all right.
    assert served(board["released"])["accuracy"] == 1.0


def test_the_submission_page_shows_the_breakdown_tables_of_a_released_submission(board):
    page = APIClient().get(f"/submissions/{board['released'].pk}/").content.decode()
    assert 'id="breakdowns"' in page
    for table in ("per-class", "slices-ink", "reliability"):
        assert f'id="{table}"' in page
    assert 'id="drift"' not in page


def test_a_version_with_eras_and_clusters_shows_drift_computed_with_its_clusters(db, catalog_folder):
    from touchstone.benchmarks.services import publish_benchmark

    weather = publish_benchmark(folder=catalog_folder / "seattle-weather")
    test = load_benchmark(weather.folder).load_split("test")
    rng = np.random.default_rng(4)
    n_classes = len(weather.classes)
    predictions = np.where(
        rng.random(test.labels.size) < 0.7, test.labels, rng.integers(0, n_classes, test.labels.size)
    )
    owner = get_user_model().objects.create_user("ada")
    submission = record_probabilities(weather, owner, probabilities_of(predictions, n_classes), name="weather")
    recompute_leaderboard(version=weather)
    freeze_version(version=weather)
    body = served(submission)
    spec = load_benchmark(weather.folder).spec
    assert [row["era"] for row in body["drift"]["eras"]] == list(spec.era_order)
    assert body == expected(weather, submission, "final")
    # Without its clusters the slope's interval would be another one: the site used them.
    unclustered = expected(weather, submission, "final", with_clusters=False)
    assert body["drift"]["slope_low"] != pytest.approx(unclustered["drift"]["slope_low"])
    page = APIClient().get(f"/submissions/{submission.pk}/").content.decode()
    assert 'id="drift"' in page and 'id="drift-slope"' in page and 'id="slices-season"' in page


def test_a_summary_that_cannot_be_computed_blanks_its_columns_not_the_board(version, hidden, monkeypatch, caplog):
    ada = get_user_model().objects.create_user("ada")
    record_probabilities(version, ada, hidden.wrong_on(40), name="released")

    def broken(*args, **kwargs):
        raise ValueError("outcomes of a submission do not match the items of its version")

    monkeypatch.setattr(breakdowns_module, "evaluation_breakdowns", broken)
    recompute_leaderboard(version=version)
    (entry,) = LeaderboardEntry.objects.filter(version=version)
    assert entry.summary is None and entry.rank == 1
    assert "could not be computed" in caplog.text
