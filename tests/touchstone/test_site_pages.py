"""Error pages, logging out, the icon, and pages of versions that take no submissions."""

from __future__ import annotations

import json

import pytest
from django.test import Client, RequestFactory

from tests.touchstone.lifecycle_fixture import next_folder
from touchstone.api.errors import server_error
from touchstone.benchmarks.services import publish_benchmark
from touchstone.rankings.lifecycle import deprecate
from touchstone.rankings.services import freeze_version

from .conftest import upload

NAVIGATION = '<header class="site-header">'


def test_an_address_no_route_matches_is_a_404_page_with_the_navigation(db):
    response = Client().get("/no-such-page/")
    page = response.content.decode()
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")
    assert NAVIGATION in page and 'id="not-found"' in page and "/no-such-page/" in page


def test_a_missing_benchmark_is_the_same_404_page(db):
    response = Client().get("/benchmarks/no-such-benchmark/")
    assert response.status_code == 404 and 'id="not-found"' in response.content.decode()


def test_a_missing_api_resource_keeps_the_json_error_shape(db):
    for path in ("/api/v1/no-such-resource/", "/api/v1/benchmarks/no-such-benchmark/"):
        response = Client().get(path)
        assert response.status_code == 404 and response["Content-Type"].startswith("application/json"), path
        assert set(response.json()) >= {"detail", "field"}


def test_the_500_page_has_the_navigation_and_needs_no_database():
    # Without the ``db`` fixture any query fails the test: the page must render when the database is down.
    response = server_error(RequestFactory().get("/benchmarks/digits/"))
    page = response.content.decode()
    assert response.status_code == 500 and NAVIGATION in page and 'id="server-error"' in page
    api = server_error(RequestFactory().get("/api/v1/benchmarks/"))
    assert api.status_code == 500 and set(json.loads(api.content)) == {"detail", "field"}


def test_the_500_page_still_answers_when_its_own_links_cannot_be_built(settings):
    # A URL configuration without the site's routes: the styled page cannot link anywhere.
    settings.ROOT_URLCONF = "tests.touchstone.empty_urls"
    response = server_error(RequestFactory().get("/benchmarks/digits/"))
    assert response.status_code == 500 and b"Something went wrong on our side" in response.content


def test_a_failing_page_answers_with_the_500_page(version, monkeypatch):
    def broken(request):
        raise RuntimeError("a bug")

    monkeypatch.setattr("touchstone.front.views.continuity.home_card", broken)
    response = Client(raise_request_exception=False).get("/")
    page = response.content.decode()
    assert response.status_code == 500 and 'id="server-error"' in page and "a bug" not in page


def test_every_page_offers_a_logged_in_user_a_logout_button_that_posts(researcher):
    client = Client()
    client.force_login(researcher)
    page = client.get("/").content.decode()
    form = page[page.index('action="/accounts/logout/"') - 40 :]
    assert '<form method="post" action="/accounts/logout/"' in form[:120]
    assert 'name="csrfmiddlewaretoken"' in form[: form.index("</form>")]


def test_opening_the_logout_address_shows_a_button_and_logs_nobody_out(researcher):
    client = Client(enforce_csrf_checks=True)
    client.force_login(researcher)
    response = client.get("/accounts/logout/")
    page = response.content.decode()
    assert response.status_code == 200 and 'id="logout-form"' in page and 'name="csrfmiddlewaretoken"' in page
    assert NAVIGATION in page and researcher.username in page
    assert "_auth_user_id" in client.session


def test_the_logout_button_logs_out_and_a_post_without_its_token_is_refused(researcher):
    client = Client(enforce_csrf_checks=True)
    client.force_login(researcher)
    page = client.get("/accounts/logout/").content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    assert client.post("/accounts/logout/").status_code == 403
    assert "_auth_user_id" in client.session
    response = client.post("/accounts/logout/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == "/"
    assert "_auth_user_id" not in client.session
    assert 'id="logged-out"' in client.get("/accounts/logout/").content.decode()


def test_a_form_sent_without_its_token_answers_with_a_page_that_says_to_reload(researcher):
    client = Client(enforce_csrf_checks=True)
    client.force_login(researcher)
    response = client.post("/accounts/logout/")
    page = response.content.decode()
    assert response.status_code == 403 and NAVIGATION in page and 'id="csrf-failure"' in page
    assert "reload the page" in page and "Nothing was changed" in page


def test_an_action_a_user_may_not_take_is_a_403_page_saying_why(version, researcher):
    client = Client()
    client.force_login(researcher)
    response = client.post(f"/benchmarks/digits/{version.version}/freeze/")
    page = response.content.decode()
    assert response.status_code == 403 and NAVIGATION in page and 'id="forbidden"' in page
    assert "only maintainers of digits" in page


def test_pages_link_the_icon_and_favicon_ico_leads_to_it(db):
    page = Client().get("/").content.decode()
    assert '<link rel="icon" href="/static/touchstone/favicon.svg" type="image/svg+xml">' in page
    response = Client().get("/favicon.ico")
    assert response.status_code == 302 and response["Location"] == "/static/touchstone/favicon.svg"
    icon = Client().get(response["Location"])
    assert icon.status_code == 200 and icon["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in b"".join(icon.streaming_content if icon.streaming else [icon.content])


@pytest.fixture
def frozen_with_newer(version, digits_folder, tmp_path):
    """Digits 1.0.0 frozen and 1.1.0 open."""
    newer = publish_benchmark(folder=next_folder(digits_folder, tmp_path / "next"))
    freeze_version(version=version)
    return version, newer


def test_a_frozen_version_offers_no_upload_form_and_points_to_the_open_version(frozen_with_newer, researcher):
    frozen, newer = frozen_with_newer
    client = Client()
    client.force_login(researcher)
    for path in (frozen.get_absolute_url(), f"/benchmarks/digits/{frozen.version}/submit/"):
        page = client.get(path).content.decode()
        assert 'id="upload-closed"' in page and "it is frozen" in page, path
        assert f'href="/benchmarks/digits/{newer.version}/submit/"' in page, path
        assert 'enctype="multipart/form-data"' not in page, path
        assert f'class="button" href="/benchmarks/digits/{frozen.version}/submit/"' not in page, path
    open_page = client.get(f"/benchmarks/digits/{newer.version}/submit/").content.decode()
    assert 'enctype="multipart/form-data"' in open_page and 'id="upload-closed"' not in open_page
    assert 'id="upload-closed"' not in client.get(newer.get_absolute_url()).content.decode()


def test_an_upload_posted_to_a_frozen_version_is_not_read_and_the_page_says_why(
    frozen_with_newer, researcher, good_model_bytes
):
    frozen, _ = frozen_with_newer
    client = Client()
    client.force_login(researcher)
    response = client.post(
        f"/benchmarks/digits/{frozen.version}/submit/", {"model_file": upload(good_model_bytes), "model_name": "late"}
    )
    assert response.status_code == 200 and 'id="upload-closed"' in response.content.decode()
    assert frozen.submissions.count() == 0


def test_a_deprecated_version_without_an_open_one_says_that_none_is_open(version, researcher):
    deprecate(version=version)
    client = Client()
    client.force_login(researcher)
    for path in (version.get_absolute_url(), f"/benchmarks/digits/{version.version}/submit/"):
        page = client.get(path).content.decode()
        assert 'id="upload-closed"' in page and "it is deprecated" in page, path
        assert "No version of this benchmark is open for submissions" in page, path
