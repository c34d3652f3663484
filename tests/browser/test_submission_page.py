"""A real headless Chromium on a submission page's charts and the leaderboard's column chooser.

The site runs in this process (pytest-django's live server), so the breakdowns and summaries
it shows are hand-built in the documented shape (``breakdown_fixture``), put in place of the
computed ones: these tests are about drawing them, not about computing them.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.touchstone.breakdown_fixture import full_breakdowns, summary
from tests.touchstone.ledger import Hidden, record_probabilities
from touchstone.api import serializers
from touchstone.api.breakdown_serializers import BreakdownsSerializer
from touchstone.rankings import disclosure
from touchstone.rankings.services import recompute_leaderboard

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("database_beside_playwright")]

CHARTS = (
    "severity-chart",
    "adversarial-chart",
    "confusion-chart",
    "slices-0-chart",
    "drift-chart",
    "reliability-chart",
)


@pytest.fixture
def site(live_server, version, monkeypatch) -> dict:
    """Two teams' released submissions whose pages show every breakdown, and a board with summaries."""
    hidden = Hidden(version)
    ada, grace = (get_user_model().objects.create_user(name) for name in ("ada", "grace"))
    mine = record_probabilities(version, ada, hidden.wrong_on(40), name="Ada's model")
    other = record_probabilities(version, grace, hidden.wrong_on(60), name="Grace's <b>model</b>")
    recompute_leaderboard(version=version)
    shown = {mine.pk: full_breakdowns(), other.pk: full_breakdowns(shift=0.1)}
    monkeypatch.setattr(disclosure, "submission_breakdowns", lambda submission: shown.get(submission.pk))
    if "corruptions" not in BreakdownsSerializer().fields:
        # The API's description of the breakdowns does not list the new sections yet: serve them as built.
        monkeypatch.setattr(
            serializers.SubmissionSerializer,
            "get_breakdowns",
            lambda self, submission: disclosure.submission_breakdowns(submission),
        )
    real_board = disclosure.leaderboard

    def entry_summary(entry: dict) -> dict:
        # The leader has no adversarial accuracy (as a model that is not attackable).
        found = summary(rank=entry["rank"])
        return {**found, "adversarial_accuracy": None} if entry["rank"] == 1 else found

    def summarised(found):
        payload = real_board(found)
        return {**payload, "entries": [{**e, "summary": entry_summary(e)} for e in payload["entries"]]}

    monkeypatch.setattr(disclosure, "leaderboard", summarised)
    return {
        "url": live_server.url,
        "mine": mine,
        "other": other,
        "board": f"{live_server.url}/benchmarks/digits/1.0.0/",
    }


def watch(page) -> list[str]:
    """Uncaught script errors and Content-Security-Policy violations, as they happen."""
    seen: list[str] = []
    page.on("console", lambda message: seen.append(message.text) if "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: seen.append(f"uncaught: {error}"))
    return seen


def trace_points(page) -> dict[str, list[int]]:
    """For each chart, the number of points of each of its drawn traces."""
    return page.evaluate(
        """(ids) => Object.fromEntries(ids.map((id) => [id, (document.getElementById(id).data || []).map(
               (trace) => (trace.type === 'heatmap' ? trace.z.flat() : trace.y || []).filter((v) => v !== null).length)]))""",
        list(CHARTS),
    )


def test_every_chart_is_drawn_with_data_and_an_overlay_adds_its_traces(browser, site):
    page = browser.new_page()
    seen = watch(page)
    page.goto(f"{site['url']}/submissions/{site['mine'].pk}/")
    for chart in CHARTS:
        page.wait_for_selector(f"#{chart} .main-svg", timeout=20000)
    before = trace_points(page)
    for chart, points in before.items():
        assert points and max(points) > 0, f"{chart} has no trace with data: {points}"
    page.select_option("#overlay-choice", str(site["other"].pk))
    page.wait_for_function(
        "(n) => document.getElementById('reliability-chart').data.length > n",
        arg=len(before["reliability-chart"]),
        timeout=10000,
    )
    after = trace_points(page)
    for chart in CHARTS:
        assert len(after[chart]) > len(before[chart]), f"{chart} got no overlay"
        assert max(after[chart][len(before[chart]) :]) > 0
    # The other model's name is drawn as text in the legend, never as markup.
    assert "Grace's <b>model</b>" in page.locator("#reliability-chart .legend").text_content()
    assert page.locator("#reliability-chart .legend b").count() == 0
    page.select_option("#overlay-choice", "")
    page.wait_for_function(
        "(n) => document.getElementById('reliability-chart').data.length === n",
        arg=len(before["reliability-chart"]),
        timeout=10000,
    )
    assert trace_points(page) == before
    assert seen == []


def test_a_hidden_column_stays_hidden_after_a_reload(browser, site):
    page = browser.new_page()
    seen = watch(page)
    page.goto(site["board"])
    header = page.locator("#leaderboard-table thead th", has_text="mCE")
    assert header.is_visible()
    page.locator("#column-chooser summary").click()
    page.locator('#column-chooser input[data-column="summary-mce"]').uncheck()
    assert not header.is_visible()
    assert page.locator("#leaderboard-table tbody td.summary-mce").first.is_hidden()
    page.reload()
    assert page.locator("#leaderboard-table thead th", has_text="mCE").is_hidden()
    assert page.locator("#leaderboard-table tbody td.summary-mce").first.is_hidden()
    assert page.locator("#leaderboard-table thead th", has_text="ECE").first.is_visible()
    assert not page.locator('#column-chooser input[data-column="summary-mce"]').is_checked()
    assert seen == []


def test_sorting_a_summary_column_puts_a_missing_value_last_both_ways(browser, site):
    page = browser.new_page()
    page.goto(site["board"])
    header = page.locator("#leaderboard-table thead th", has_text="Adversarial accuracy")
    cells = page.locator("#leaderboard-table tbody td.summary-adversarial_accuracy")
    assert cells.all_inner_texts()[0] == "—"  # the leader comes first before any sorting
    for direction in ("sorted-asc", "sorted-desc"):
        header.click()
        assert direction in header.get_attribute("class")
        texts = cells.all_inner_texts()
        assert texts[-1] == "—" and "—" not in texts[:-1], texts


def test_a_phone_sized_window_scrolls_no_page_sideways(browser, site):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    for path in (f"/submissions/{site['mine'].pk}/", "/benchmarks/digits/1.0.0/"):
        page.goto(f"{site['url']}{path}")
        page.wait_for_selector(".main-svg", timeout=20000)
        widths = page.evaluate("() => [document.body.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1] == 390, (path, widths)
