"""A real headless Chromium at a phone's width and a laptop's: no page scrolls sideways.

A page that is wider than the window is cut off or scrolls as a whole; a table too wide for
the page scrolls inside its own container instead. The site runs in this process
(pytest-django's live server) with a frozen board of every metric and its interval, the widest
table the site draws. One browser page is reused for every address and width.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.touchstone.ledger import record_result
from touchstone.rankings.services import freeze_version

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("database_beside_playwright")]

PHONE, LAPTOP = (390, 844), (1280, 800)


@pytest.fixture
def frozen_site(live_server, version) -> dict:
    """A frozen digits board of four teams, each entry showing every reported metric with its interval."""
    users = get_user_model().objects
    entries = []
    for seed, accuracy in enumerate((0.93, 0.91, 0.88, 0.80)):
        owner = users.create_user(f"team-with-a-long-name-{seed}")
        entries.append(
            record_result(version, owner, accuracy=accuracy, seed=seed, name=f"A model with a long name {seed}")
        )
    freeze_version(version=version)
    return {"url": live_server.url, "version": version, "submission": entries[0]}


def overflow(page) -> dict:
    """How wide the document is against the window, and the widest element that sticks out."""
    return page.evaluate(
        """() => {
            const width = window.innerWidth;
            let widest = null;
            for (const element of document.querySelectorAll('body *')) {
                const right = element.getBoundingClientRect().right;
                if (right > width + 1 && (!widest || right > widest.right)) {
                    widest = {right, tag: element.tagName, id: element.id, cls: element.className.toString()};
                }
            }
            return {scroll: document.documentElement.scrollWidth, inner: width, widest};
        }"""
    )


def test_no_page_scrolls_sideways_on_a_phone_or_a_laptop(browser, frozen_site):
    paths = {
        "home": "/",
        "frozen board": f"/benchmarks/digits/{frozen_site['version'].version}/",
        "submission": f"/submissions/{frozen_site['submission'].pk}/",
        "missing page": "/no-such-page/",
    }
    page = browser.new_page(viewport={"width": PHONE[0], "height": PHONE[1]})
    problems: list[str] = []
    page.on(
        "console", lambda message: problems.append(message.text) if "Content Security Policy" in message.text else None
    )
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    try:
        for width, height in (PHONE, LAPTOP):
            page.set_viewport_size({"width": width, "height": height})
            for name, path in paths.items():
                page.goto(f"{frozen_site['url']}{path}")
                if page.locator(".chart").count():
                    # Measure once plotly has drawn, at the width it chose.
                    page.wait_for_selector(".chart .main-svg", timeout=20000)
                found = overflow(page)
                assert found["scroll"] <= found["inner"] == width, (name, width, found)
            # Each rank on a home card keeps its interval on its own line: "2 (1–3)".
            page.goto(f"{frozen_site['url']}/")
            lines = page.evaluate(
                """() => [...document.querySelectorAll('.card tbody td:first-child')].map((cell) => {
                    const range = document.createRange();
                    range.selectNodeContents(cell);
                    return new Set([...range.getClientRects()].map((box) => Math.round(box.bottom / 4))).size;
                })"""
            )
            assert lines and set(lines) == {1}, (width, lines)
        # The 404 page keeps the site's navigation.
        page.goto(f"{frozen_site['url']}/no-such-page/")
        assert page.locator(".site-header nav a", has_text="Benchmarks").is_visible()
        assert problems == []
    finally:
        page.close()


def test_the_frozen_board_scrolls_inside_its_own_container_at_a_laptop_width(browser, frozen_site):
    page = browser.new_page(viewport={"width": LAPTOP[0], "height": LAPTOP[1]})
    try:
        page.goto(f"{frozen_site['url']}/benchmarks/digits/{frozen_site['version'].version}/")
        headers = page.locator("#leaderboard-table thead th").all_inner_texts()
        assert {"Brier score", "Expected calibration error (equal mass)"} <= set(headers), headers
        box = page.evaluate(
            """() => {
                const container = document.getElementById('leaderboard-table').parentElement;
                container.scrollLeft = 10000;
                return {cls: container.className, client: container.clientWidth, scroll: container.scrollWidth,
                        left: container.scrollLeft, right: container.getBoundingClientRect().right};
            }"""
        )
        assert box["cls"] == "table-scroll"
        # The table is wider than its container, which scrolls to show the last column and stays inside the window.
        assert box["scroll"] > box["client"] and box["left"] > 0, box
        assert box["right"] <= LAPTOP[0], box
        last = page.locator("#leaderboard-table thead th").last
        assert last.is_visible() and last.bounding_box()["x"] + last.bounding_box()["width"] <= LAPTOP[0] + 1
    finally:
        page.close()
