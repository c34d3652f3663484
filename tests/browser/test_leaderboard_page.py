"""A real headless Chromium opens a leaderboard page served by the real stack."""

from __future__ import annotations

import pytest

from evaluation.client import TouchstoneClient
from tests.integration.test_worker_end_to_end import wait_for_leaderboard

pytestmark = [pytest.mark.services, pytest.mark.browser]


@pytest.fixture(scope="module")
def ranked_site(production_site, model_files):
    reader = TouchstoneClient(production_site.url)
    before = len(reader._request("GET", "benchmarks/digits/versions/1.0.0/leaderboard/")["entries"])
    # Two teams: an open leaderboard shows one entry per team.
    for team, name, key in (("browser-a", "Browser strong", "strong"), ("browser-b", "Browser weak", "weak")):
        client = TouchstoneClient(production_site.url, production_site.create_researcher(team))
        created = client.submit(benchmark="digits", version="1.0.0", model_file=model_files[key], model_name=name)
        assert client.wait(created["id"], poll_seconds=0.2, timeout=180)["status"] == "scored"
    board = wait_for_leaderboard(reader, "benchmarks/digits/versions/1.0.0/leaderboard/", before + 2)
    return production_site, board


def test_the_leaderboard_page_draws_the_chart_and_the_table(browser, ranked_site, tmp_path):
    site, board = ranked_site
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{site.url}/benchmarks/digits/1.0.0/")
    # plotly draws its points as SVG paths inside the chart container once plotly.js has run.
    page.wait_for_selector("#leaderboard-chart .main-svg", timeout=20000)
    points = page.locator("#leaderboard-chart .scatterlayer .point").count()
    assert points == len(board["entries"])
    rows = page.locator("#leaderboard-table tbody tr")
    assert rows.count() == len(board["entries"])
    first = rows.nth(0).inner_text()
    assert board["entries"][0]["model_name"] in first
    assert f"{board['entries'][0]['rank_lower']}–{board['entries'][0]['rank_upper']}" in first
    page.screenshot(path=str(tmp_path / "leaderboard.png"), full_page=True)
    assert errors == []


def test_sorting_the_table_by_a_column_reorders_its_rows(browser, ranked_site):
    site, board = ranked_site
    page = browser.new_page()
    page.goto(f"{site.url}/benchmarks/digits/1.0.0/")
    rank_header = page.locator("#leaderboard-table thead th", has_text="Rank").first
    rank_header.click()  # ascending
    rank_header.click()  # descending
    ranks = [int(text.split("\t")[0]) for text in page.locator("#leaderboard-table tbody tr").all_inner_texts()]
    assert ranks == sorted((e["rank"] for e in board["entries"]), reverse=True)
    assert ranks != sorted(ranks)  # the order really changed
