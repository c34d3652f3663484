"""Anonymous visitors are served the public pages from a cache for a few seconds: a page is at
most ``PUBLIC_CACHE_SECONDS`` old for them, current for anyone signed in, and nothing that
belongs to one visitor (a session, a message, a CSRF token) is ever stored or handed on."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.cache import caches
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from tests.services import ROOT
from tests.touchstone.test_board_cache import api_names, page, scored
from touchstone.front.page_cache import storable
from touchstone.rankings.board_cache import board_fingerprint, recent_fingerprint, refresh_due
from touchstone.submissions.services import withdraw_submission

pytestmark = pytest.mark.usefixtures("reused_sandbox_runs", "empty_cache")


@pytest.fixture
def cached_pages(settings):
    caches["public"].clear()
    settings.PUBLIC_CACHE_SECONDS = 2
    yield settings
    caches["public"].clear()


def test_an_anonymous_visitor_gets_the_page_at_most_the_set_seconds_old(
    cached_pages, version, researcher, good_model_bytes
):
    scored(version, researcher, good_model_bytes, "First model", "alpha")
    assert "First model" in page(version)
    scored(version, researcher, good_model_bytes, "Second model", "beta")
    assert "Second model" not in page(version)
    signed_in = Client()
    signed_in.force_login(researcher)
    assert "Second model" in page(version, signed_in)
    time.sleep(cached_pages.PUBLIC_CACHE_SECONDS + 0.2)
    assert "Second model" in page(version)


def test_one_request_refreshes_a_copy_past_half_its_time_while_the_others_keep_it(cached_pages):
    now = time.time()
    assert not refresh_due("page-a", now, 2)
    assert refresh_due("page-a", now - 1.2, 2)
    assert not refresh_due("page-a", now - 1.2, 2), "a second request refreshed what the first was refreshing"
    assert refresh_due("page-b", now - 1.2, 2), "the claim on one page held another"


def test_with_no_seconds_set_every_anonymous_visitor_gets_the_current_page(
    settings, version, researcher, good_model_bytes
):
    settings.PUBLIC_CACHE_SECONDS = 0
    kept = scored(version, researcher, good_model_bytes, "Kept model", "alpha")
    gone = scored(version, researcher, good_model_bytes, "Withdrawn model", "beta")
    assert "Withdrawn model" in page(version)
    withdraw_submission(submission=gone)
    assert "Withdrawn model" not in page(version) and kept.model_name in page(version)


def test_a_signed_in_page_is_never_handed_to_a_visitor_nor_a_visitors_page_to_them(
    cached_pages, version, researcher, good_model_bytes
):
    scored(version, researcher, good_model_bytes, "First model", "alpha")
    signed_in = Client()
    signed_in.force_login(researcher)
    theirs = page(version, signed_in)
    assert "Log out ada" in theirs and "csrfmiddlewaretoken" in theirs
    visitors = page(version)
    assert "Log out ada" not in visitors and "csrfmiddlewaretoken" not in visitors
    assert signed_in.cookies["csrftoken"].value not in visitors
    assert "Log out ada" in page(version, signed_in)
    # The home and benchmark pages as well.
    for url in ("/", f"/benchmarks/{version.benchmark.slug}/"):
        assert "Log out ada" in signed_in.get(url).content.decode()
        assert "Log out ada" not in Client().get(url).content.decode()


def test_a_visitor_with_a_message_waiting_is_not_served_from_the_cache(
    cached_pages, version, researcher, good_model_bytes
):
    scored(version, researcher, good_model_bytes, "First model", "alpha")
    assert "Second model" not in page(version)
    scored(version, researcher, good_model_bytes, "Second model", "beta")
    assert "Second model" not in page(version)
    with_message = Client()
    with_message.cookies[CookieStorage.cookie_name] = "anything"
    assert "Second model" in page(version, with_message)


def test_an_address_with_a_query_string_is_always_rendered(cached_pages, version, researcher, good_model_bytes):
    scored(version, researcher, good_model_bytes, "First model", "alpha")
    assert "First model" in page(version)
    scored(version, researcher, good_model_bytes, "Second model", "beta")
    assert "Second model" not in page(version)
    with_query = Client().get(version.get_absolute_url() + "?anything=1")
    assert "Second model" in with_query.content.decode()
    assert len(caches["public"]._cache) == 1, "a page with a query string was kept"


def test_a_cached_page_carries_the_sites_security_headers(cached_pages, version):
    first, second = Client().get(version.get_absolute_url()), Client().get(version.get_absolute_url())
    assert first.content == second.content
    for response in (first, second):
        assert "script-src 'self'" in response["Content-Security-Policy"]
        assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"
        assert "Cookie" in response["Vary"]


def test_a_page_that_asked_for_a_csrf_token_or_set_a_cookie_is_not_kept(cached_pages):
    plain = RequestFactory().get("/")
    plain.COOKIES = {}
    assert storable(plain, HttpResponse("page"))
    with_token = RequestFactory().get("/")
    get_token(with_token)
    assert not storable(with_token, HttpResponse("page"))
    with_cookie = HttpResponse("page")
    with_cookie.set_cookie("anything", "value")
    assert not storable(plain, with_cookie)
    assert not storable(plain, HttpResponse("gone", status=404))


def test_an_anonymous_api_reader_gets_the_board_at_most_the_set_seconds_old(
    cached_pages, version, researcher, good_model_bytes
):
    scored(version, researcher, good_model_bytes, "First model", "alpha")
    assert api_names(version) == ["First model"]
    scored(version, researcher, good_model_bytes, "Second model", "beta")
    assert api_names(version) == ["First model"]
    assert recent_fingerprint(version) != board_fingerprint(version)
    token_reader = APIClient()
    token_reader.force_authenticate(researcher)
    url = f"/api/v1/benchmarks/{version.benchmark.slug}/versions/{version.version}/leaderboard/"
    assert sorted(entry["model_name"] for entry in token_reader.get(url).json()["entries"]) == [
        "First model",
        "Second model",
    ]
    time.sleep(cached_pages.PUBLIC_CACHE_SECONDS + 0.2)
    assert sorted(api_names(version)) == ["First model", "Second model"]


def worker_niceness(environment: dict[str, str], start_at: int = 0) -> subprocess.CompletedProcess:
    program = (
        "import os, django; django.setup(); from celery.signals import worker_init; "
        f"os.nice({start_at}); worker_init.send(sender=None); print(os.getpriority(os.PRIO_PROCESS, 0))"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("TOUCHSTONE_")}
    return subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "touchstone.settings", **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_worker_runs_below_the_web_servers_priority_and_never_raises_its_own():
    assert worker_niceness({}).stdout.split() == ["5"]
    assert worker_niceness({"TOUCHSTONE_WORKER_NICENESS": "8"}).stdout.split() == ["8"]
    # A worker started nicer than the setting stays as nice as it was started.
    assert worker_niceness({"TOUCHSTONE_WORKER_NICENESS": "3"}, start_at=12).stdout.split() == ["12"]
    refused = worker_niceness({"TOUCHSTONE_WORKER_NICENESS": "20"})
    assert refused.returncode != 0 and "TOUCHSTONE_WORKER_NICENESS must be at most 19" in refused.stderr
