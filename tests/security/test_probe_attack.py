"""A probe attack on an open version: reading hidden labels through everything the site shows.

Mallory has a released model A that gets three chosen feedback items wrong. She submits probes
that differ from A only on those items (one item each, and one that changes two of them and
breaks an item A gets right), fetches every public output a researcher can reach (the board in
JSON and CSV, the version, home and "my submissions" pages, each of her submissions in the API
and on its page, its provenance, and every comparison she can ask for), then withdraws A and
fetches them again, as a replay of the Ladder without A would have released a probe.

The same history runs in two worlds that differ only in what she wants to learn: in one the
probes get the chosen items right, in the other wrong (either the hidden labels differ, or the
probes' predictions do). Every output must be identical in both worlds: she cannot tell which
world she is in. Where the labels differ, the chosen items' labels are permuted among themselves
and the released entries predict one class on all three: a released entry's breakdowns count
pairs of true and predicted class, so they tell what labels the items it predicts a class on
have (counted per release in ``docs/methods.md``), not what a probe got right. The probes' one documented bit, whether each beat the team's bar, is the same
in both worlds here, since none changes enough items to clear it (a fix of one item never does).

The outcomes are written straight into the ledger (``tests/touchstone/ledger.py``): the sandbox
is not what this attack is about, and a world must be rolled back to run the next.
"""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from evaluation.metrics import per_item_outcomes
from evaluation.statistics import compare_entries
from tests.touchstone.conftest import api_client_for
from tests.touchstone.ledger import Hidden, probabilities_of, record_probabilities
from touchstone.rankings.services import recompute_leaderboard
from touchstone.submissions.services import withdraw_submission

RELEASED, GRACE = 9001, 9100
PROBES = (9002, 9003, 9004, 9005)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
CSRF = re.compile(r'(csrfmiddlewaretoken" value=")[^"]+')


@pytest.fixture(autouse=True)
def generous_rates(monkeypatch):
    """Mallory may compare as often as she likes: the rate is not what stops her."""
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {
            "anon": "10000/minute",
            "user": "10000/minute",
            "uploads": "1000/hour",
            "compare_anon": "1000/hour",
            "compare": "1000/hour",
        },
    )
    cache.clear()
    yield
    cache.clear()


def normalised(text: str) -> str:
    """The output without what differs between any two runs: times of day and CSRF tokens."""
    return CSRF.sub(r"\1<csrf>", TIMESTAMP.sub("<time>", text))


def chosen_items(hidden: Hidden) -> np.ndarray:
    """Three feedback items with three different labels, among the forty A gets wrong."""
    first = hidden.feedback[:40]
    distinct = np.sort(np.unique(hidden.labels[first], return_index=True)[1])
    return first[distinct[:3]]


def constant_wrong_class(hidden: Hidden) -> int:
    """A class none of the chosen items has: what the released entries predict on all three."""
    return min(set(range(10)) - set(hidden.labels[chosen_items(hidden)].tolist()))


def history(hidden: Hidden, world: str, differing: str) -> dict[int, np.ndarray]:
    """Predictions of every submission; ``world`` is where the probes get the chosen items right or wrong."""
    labels = hidden.labels
    chosen = chosen_items(hidden)
    released = hidden.predictions_wrong_on(40)  # wrong on the chosen items: their labels are the prize
    released[chosen] = constant_wrong_class(hidden)
    grace = hidden.labels.copy()
    grace[hidden.feedback[20:80]] = (labels[hidden.feedback[20:80]] + 1) % 10
    grace[chosen] = constant_wrong_class(hidden)  # wrong in both worlds
    # The probes guess the true label; in the world where they are wrong, either the guess or
    # the hidden label is another class.
    guess = labels[chosen].copy()
    if world == "wrong" and differing == "predictions":
        guess = (labels[chosen] + 7) % 10
    probes = []
    for k in range(3):
        probe = released.copy()
        probe[chosen[k]] = guess[k]
        probes.append(probe)
    two = released.copy()
    two[chosen[:2]] = guess[:2]
    right_item = hidden.feedback[100]
    two[right_item] = (labels[right_item] + 2) % 10
    probes.append(two)
    return {RELEASED: released, GRACE: grace, **dict(zip(PROBES, probes, strict=True))}


def hidden_labels_for(hidden: Hidden, world: str, differing: str) -> np.ndarray:
    labels = hidden.labels.copy()
    if world == "wrong" and differing == "labels":
        chosen = chosen_items(hidden)
        labels[chosen] = np.roll(labels[chosen], 1)
    return labels


def write_labels(version, labels: np.ndarray) -> None:
    path = version.folder / "test.npz"
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["labels"] = labels
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


def fetch_everything(version, mallory, stage: str) -> dict[str, str]:
    """Every public output Mallory can reach, as text."""
    base = f"/api/v1/benchmarks/digits/versions/{version.version}"
    api, page, anonymous = api_client_for(mallory), Client(), APIClient()
    page.force_login(mallory)
    mine = [RELEASED, *PROBES]
    requests = {
        "leaderboard json": (anonymous, f"{base}/leaderboard/"),
        "leaderboard csv": (anonymous, f"{base}/leaderboard/?format=csv"),
        "version api": (anonymous, f"{base}/"),
        "version page": (page, f"/benchmarks/digits/{version.version}/"),
        "home page": (page, "/"),
        "my submissions": (page, "/submissions/"),
    }
    for pk in mine:
        requests[f"submission {pk} api"] = (api, f"/api/v1/submissions/{pk}/")
        requests[f"submission {pk} provenance"] = (api, f"/api/v1/submissions/{pk}/provenance/")
        requests[f"submission {pk} page"] = (page, f"/submissions/{pk}/")
    for a in [*mine, GRACE]:
        for b in [*mine, GRACE]:
            if a != b:
                requests[f"compare {a} {b} api"] = (api, f"{base}/compare/?a={a}&b={b}")
                requests[f"compare {a} {b} page"] = (page, f"/benchmarks/digits/{version.version}/compare/?a={a}&b={b}")
    outputs = {}
    for name, (client, url) in requests.items():
        response = client.get(url)
        outputs[f"{stage}: {name}"] = f"{response.status_code}\n{normalised(response.content.decode())}"
    return outputs


def private_truth(version, hidden: Hidden, predictions: dict[int, np.ndarray], labels: np.ndarray) -> dict:
    """What Mallory is after, computed with the hidden labels: it must differ between the worlds."""
    feedback = hidden.feedback
    truth = {}
    for pk in PROBES:
        truth[f"{pk} accuracy"] = float(np.mean(predictions[pk][feedback] == labels[feedback]))
        comparison = compare_entries(
            probabilities_of(predictions[pk])[feedback],
            probabilities_of(predictions[RELEASED])[feedback],
            labels[feedback],
            metric="accuracy",
            seed=1,
            n_resamples=200,
        )
        truth[f"{pk} vs released"] = (comparison.a_only_correct, comparison.b_only_correct, comparison.p_value)
    assert per_item_outcomes(probabilities_of(predictions[GRACE]), labels)["correct"][chosen_items(hidden)].sum() == 0
    return truth


def run_world(version, hidden: Hidden, world: str, differing: str) -> tuple[dict[str, str], dict]:
    """Play the attack in one world and roll the database back afterwards."""
    original = (version.folder / "test.npz").read_bytes()
    labels = hidden_labels_for(hidden, world, differing)
    write_labels(version, labels)
    predictions = history(hidden, world, differing)
    try:
        with transaction.atomic():
            mallory = get_user_model().objects.create_user("mallory")
            grace = get_user_model().objects.create_user("grace")
            moments = iter(START + timedelta(minutes=k) for k in range(20))
            record_probabilities(
                version,
                mallory,
                probabilities_of(predictions[RELEASED]),
                name="A",
                pk=RELEASED,
                at=next(moments),
                with_metrics=True,
            )
            record_probabilities(
                version,
                grace,
                probabilities_of(predictions[GRACE]),
                name="G",
                pk=GRACE,
                at=next(moments),
                with_metrics=True,
            )
            recompute_leaderboard(version=version)
            for k, pk in enumerate(PROBES):
                record_probabilities(
                    version,
                    mallory,
                    probabilities_of(predictions[pk]),
                    name=f"probe {k}",
                    pk=pk,
                    at=next(moments),
                    with_metrics=True,
                )
            recompute_leaderboard(version=version)
            outputs = fetch_everything(version, mallory, "probes scored")
            withdraw_submission(submission=mallory.submissions.get(pk=RELEASED))
            recompute_leaderboard(version=version)
            outputs |= fetch_everything(version, mallory, "released model withdrawn")
            truth = private_truth(version, hidden, predictions, labels)
            transaction.set_rollback(True)
    finally:
        (version.folder / "test.npz").write_bytes(original)
        cache.clear()
    return outputs, truth


@pytest.mark.parametrize("differing", ["labels", "predictions"])
def test_probes_on_chosen_items_read_nothing_from_any_public_output(version, differing):
    hidden = Hidden(version)
    right, right_truth = run_world(version, hidden, "right", differing)
    wrong, wrong_truth = run_world(version, hidden, "wrong", differing)
    # The attack is real: the probes' scores and their discordance with A differ between worlds.
    for pk in PROBES:
        assert right_truth[f"{pk} accuracy"] != wrong_truth[f"{pk} accuracy"]
        assert right_truth[f"{pk} vs released"] != wrong_truth[f"{pk} vs released"]
    assert right.keys() == wrong.keys()
    differences = [name for name in right if right[name] != wrong[name]]
    assert not differences, f"{len(differences)} outputs tell the worlds apart, first {differences[0]}"
    # And she was really shown things: the board, her released model's score, the bit of each probe.
    board = json.loads(right["probes scored: leaderboard json"].split("\n", 1)[1])
    assert [entry["submission"] for entry in board["entries"]] == [RELEASED, GRACE]
    for pk in PROBES:
        ladder = json.loads(right[f"probes scored: submission {pk} api"].split("\n", 1)[1])["ladder"]
        assert ladder == {"metric": "accuracy", "released": None, "improved": False}
        assert json.loads(right[f"probes scored: submission {pk} api"].split("\n", 1)[1])["breakdowns"] is None
        assert right[f"probes scored: compare {pk} {GRACE} api"].startswith("400\n")
    released = json.loads(right[f"probes scored: submission {RELEASED} api"].split("\n", 1)[1])
    assert released["breakdowns"]["part"] == "feedback" and released["breakdowns"]["per_class"]["confusion"]
    assert right[f"probes scored: compare {RELEASED} {GRACE} api"].startswith("200\n")
