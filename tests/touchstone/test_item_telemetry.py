"""Item telemetry: a 2PL fit per hidden item for maintainers, nothing of it for anyone else."""

from __future__ import annotations

import re

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from evaluation.spec import load_benchmark
from tests.touchstone.ledger import probabilities_of, record_probabilities
from touchstone.benchmarks.models import Benchmark
from touchstone.rankings.services import recompute_leaderboard
from touchstone.rankings.telemetry import MINIMUM_ENTRIES

pytestmark = pytest.mark.usefixtures("empty_cache")
MISSED_BY_ALL, REVERSED = 0, 1


def crowd(version, count: int) -> list:
    """``count`` teams of one entry each, better as they go; two planted items look mislabelled."""
    labels = load_benchmark(version.folder).load_split("test").labels
    rng = np.random.default_rng(7)
    made = []
    for k in range(count):
        wrong = rng.random(labels.size) < 0.45 - 0.035 * k
        wrong[MISSED_BY_ALL] = True
        # The best entries miss it and the weakest get it right, as when its label is wrong.
        wrong[REVERSED] = k >= 4
        predictions = np.where(wrong, (labels + 1) % 10, labels)
        owner = get_user_model().objects.create_user(f"team-{k}")
        made.append(record_probabilities(version, owner, probabilities_of(predictions), name=f"model {k}"))
    recompute_leaderboard(version=version)
    return made


@pytest.fixture
def people(version, db) -> dict:
    users = get_user_model().objects
    maintainer = users.create_user("maintainer", password="a-long-password-9")
    version.benchmark.maintainers.add(maintainer)
    elsewhere = users.create_user("elsewhere", password="a-long-password-9")
    Benchmark.objects.create(slug="other", title="Other").maintainers.add(elsewhere)
    return {
        "maintainer": maintainer,
        "elsewhere": elsewhere,
        "researcher": users.create_user("someone", password="a-long-password-9"),
        "staff": users.create_user("staff", password="a-long-password-9", is_staff=True),
    }


def client_of(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def telemetry_url(version) -> str:
    return f"/benchmarks/digits/{version.version}/telemetry/"


@pytest.fixture
def hidden_ids(version) -> list[str]:
    return [str(item) for item in load_benchmark(version.folder).load_split("test").item_ids]


@pytest.fixture
def dev_ids(version) -> set[str]:
    return {str(item) for item in load_benchmark(version.folder).load_split("dev").item_ids}


def test_a_maintainer_sees_the_planted_items_flagged_as_possibly_mislabelled(version, people, settings, hidden_ids):
    settings.BOOTSTRAP_RESAMPLES = 200
    crowd(version, MINIMUM_ENTRIES)
    page = client_of(people["maintainer"]).get(telemetry_url(version))
    assert page.status_code == 200
    html = page.content.decode()
    flagged_table = html[html.index('id="flagged-items"') : html.index('id="weakest"')]
    flagged = re.findall(r'data-item="([^"]+)"', flagged_table)
    assert hidden_ids[MISSED_BY_ALL] in flagged and hidden_ids[REVERSED] in flagged
    reversed_row = flagged_table[flagged_table.index(f'data-item="{hidden_ids[REVERSED]}"') :]
    assert "negative discrimination" in reversed_row[: reversed_row.index("</tr>")]
    # Items with no planted fault are rarely flagged: a few false alarms at most.
    assert len(flagged) <= 2 + 0.01 * len(hidden_ids)
    assert f"{MINIMUM_ENTRIES} entries" in html and "converged" in html


def test_with_fewer_than_ten_entries_the_page_says_how_many_more_it_needs(version, people, settings):
    settings.BOOTSTRAP_RESAMPLES = 200
    crowd(version, MINIMUM_ENTRIES - 3)
    html = client_of(people["maintainer"]).get(telemetry_url(version)).content.decode()
    assert re.search(r'id="entries-needed">3<', html)
    assert 'id="flagged-items"' not in html


@pytest.mark.parametrize(
    ("who", "status"),
    [(None, 302), ("researcher", 403), ("elsewhere", 403), ("maintainer", 200), ("staff", 200)],
)
def test_only_the_benchmarks_maintainers_and_staff_open_the_telemetry(version, people, who, status, hidden_ids):
    response = client_of(people.get(who)).get(telemetry_url(version))
    assert response.status_code == status
    if status == 302:
        assert response["Location"].startswith("/accounts/login/")
    text = response.content.decode()
    assert not any(item in text for item in hidden_ids)
    link = 'id="telemetry-link"' in client_of(people.get(who)).get(version.get_absolute_url()).content.decode()
    assert link is (status == 200)


def test_nothing_public_names_a_hidden_item(version, people, settings, hidden_ids, dev_ids):
    settings.BOOTSTRAP_RESAMPLES = 200
    made = crowd(version, MINIMUM_ENTRIES)
    base = f"/api/v1/benchmarks/digits/versions/{version.version}"
    public = [
        "/",
        "/benchmarks/digits/",
        version.get_absolute_url(),
        f"{base}/",
        f"{base}/leaderboard/?format=csv",
        f"{base}/export/?format=json",
        f"{base}/export/?format=csv",
        f"{base}/croissant.json",
        f"/submissions/{made[0].pk}/",
        f"/api/v1/submissions/{made[0].pk}/",
        f"/api/v1/submissions/{made[0].pk}/report/?format=csv",
        telemetry_url(version),
    ]
    hidden = set(hidden_ids)
    for who in (None, people["researcher"]):
        for url in public:
            text = client_of(who).get(url).content.decode()
            named = set(re.findall(r"digits-\d{4}", text))
            assert not named & hidden, url
            assert named <= dev_ids, url
    # The maintainer's page does name them: the check above can see an id where one is shown.
    maintainer_text = client_of(people["maintainer"]).get(telemetry_url(version)).content.decode()
    assert set(re.findall(r"digits-\d{4}", maintainer_text)) & hidden
