"""The site's Content-Security-Policy in a real browser: every page still works under it, and
a model name written as markup stays text on the leaderboard."""

from __future__ import annotations

import pytest

from evaluation.client import TouchstoneClient
from tests.integration.test_worker_end_to_end import wait_for_leaderboard

pytestmark = [pytest.mark.services, pytest.mark.browser]

MARKUP_NAME = '<a href="https://example.org">x</a><b>bold</b>'


def watch_console(page) -> list[str]:
    """Collect what Chromium reports about the policy and any uncaught script error."""
    seen: list[str] = []
    page.on("console", lambda message: seen.append(message.text))
    page.on("pageerror", lambda error: seen.append(f"uncaught: {error}"))
    return seen


def policy_problems(seen: list[str]) -> list[str]:
    return [text for text in seen if "Content Security Policy" in text or text.startswith("uncaught:")]


@pytest.fixture(scope="module")
def markup_site(production_site, model_files):
    reader = TouchstoneClient(production_site.url)
    path = "benchmarks/digits/versions/1.0.0/leaderboard/"
    before = len(reader._request("GET", path)["entries"])
    client = TouchstoneClient(production_site.url, production_site.create_researcher("markup-team"))
    created = client.submit(benchmark="digits", version="1.0.0", model_file=model_files["weak"], model_name=MARKUP_NAME)
    assert client.wait(created["id"], poll_seconds=0.2, timeout=180)["status"] == "scored"
    board = wait_for_leaderboard(reader, path, before + 1)
    assert MARKUP_NAME in [entry["model_name"] for entry in board["entries"]]
    return production_site, board


def test_the_leaderboard_chart_draws_under_the_policy_without_a_violation(browser, markup_site):
    site, board = markup_site
    page = browser.new_page()
    seen = watch_console(page)
    response = page.goto(f"{site.url}/benchmarks/digits/1.0.0/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector("#leaderboard-chart .main-svg", timeout=20000)
    assert page.locator("#leaderboard-chart .scatterlayer .point").count() == len(board["entries"])
    # Sorting is a script file too: it must still run.
    page.locator("#leaderboard-table thead th", has_text="Tier").first.click()
    assert "sorted-asc" in (page.locator("#leaderboard-table thead th", has_text="Tier").first.get_attribute("class"))
    assert policy_problems(seen) == []


def test_a_model_name_written_as_markup_is_shown_as_text_and_links_nowhere(browser, markup_site):
    site, _ = markup_site
    page = browser.new_page()
    page.goto(f"{site.url}/benchmarks/digits/1.0.0/")
    page.wait_for_selector("#leaderboard-chart .main-svg", timeout=20000)
    ticks = page.locator("#leaderboard-chart .ytick text").all_text_contents()
    assert any(MARKUP_NAME in text for text in ticks), ticks
    # Hovering the entry's point shows the name in the tooltip, as text as well.
    entries = page.locator("#leaderboard-chart .scatterlayer .point")
    index = next(i for i, text in enumerate(ticks) if MARKUP_NAME in text)
    # The board's explanation comes first: bring the chart into the window before pointing at it.
    entries.nth(index).scroll_into_view_if_needed()
    box = entries.nth(index).bounding_box()
    # plotly's drag layer lies over the points: hover where the point is, as a mouse would.
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector("#leaderboard-chart .hoverlayer .hovertext", timeout=5000)
    assert MARKUP_NAME in page.locator("#leaderboard-chart .hoverlayer").text_content()
    linked = page.evaluate(
        """() => Array.from(document.querySelectorAll('*')).filter((element) =>
               Array.from(element.attributes).some((attribute) =>
                   /href$/.test(attribute.name) && attribute.value.includes('example.org'))).length"""
    )
    assert linked == 0
    assert page.locator("#leaderboard-chart b, #leaderboard-chart a").count() == 0


def test_the_api_docs_work_under_the_policy(browser, production_site):
    page = browser.new_page()
    seen = watch_console(page)
    page.goto(f"{production_site.url}/api/v1/docs/")
    page.wait_for_selector(".swagger-ui .info .title", timeout=20000)
    assert "Touchstone API" in page.locator(".swagger-ui .info .title").inner_text()
    page.locator(".opblock-summary").first.click()
    page.wait_for_selector(".opblock-body", timeout=5000)
    assert policy_problems(seen) == []


def test_the_other_pages_load_without_a_violation(browser, production_site):
    page = browser.new_page()
    seen = watch_console(page)
    for path in ("/", "/accounts/login/", "/accounts/signup/", "/admin/login/", "/benchmarks/digits/1.0.0/compare/"):
        assert page.goto(f"{production_site.url}{path}").status == 200, path
    assert policy_problems(seen) == []


def test_an_inline_script_is_refused_by_the_policy(browser, production_site):
    # The control for the tests above: the policy is really enforced, so "no violation" means
    # the pages need no inline script, not that the browser ignored the header.
    page = browser.new_page()
    seen = watch_console(page)
    page.goto(f"{production_site.url}/")
    page.evaluate(
        """() => { const script = document.createElement('script');
                   script.textContent = 'window.ranInline = true;'; document.body.appendChild(script); }"""
    )
    assert page.evaluate("() => window.ranInline === true") is False
    assert any("Content Security Policy" in text for text in seen)
