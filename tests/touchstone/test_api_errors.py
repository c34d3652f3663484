"""Every refusal under /api/ has the one error shape, through the real URL configuration."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from tests.touchstone.conftest import api_client_for, upload

ONE_SHAPE = {"detail", "field"}


def assert_one_shape(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert ONE_SHAPE <= set(body) and isinstance(body["detail"], str) and body["detail"]
    return body


def test_a_form_with_several_wrong_fields_names_the_first_and_lists_every_one(version, researcher):
    response = api_client_for(researcher).post(
        "/api/v1/submissions/", {"benchmark": "digits", "paper_url": "not a url"}, format="multipart"
    )
    body = assert_one_shape(response, 400)
    assert set(body["errors"]) == {"version", "model_file", "model_name", "paper_url"}
    assert all(isinstance(m, str) for messages in body["errors"].values() for m in messages)
    assert body["field"] in body["errors"] and body["detail"] == body["errors"][body["field"]][0]


def test_a_version_that_does_not_exist_is_named_as_the_field_at_fault(version, researcher, good_model_bytes):
    response = api_client_for(researcher).post(
        "/api/v1/submissions/",
        {
            "benchmark": "digits",
            "version": "no-such-version",
            "model_name": "m",
            "model_file": upload(good_model_bytes),
        },
        format="multipart",
    )
    body = assert_one_shape(response, 400)
    assert body["field"] == "version" and "no-such-version" in body["detail"]


def test_a_body_that_cannot_be_parsed_is_a_400_in_the_one_shape(researcher):
    response = api_client_for(researcher).generic(
        "POST", "/api/v1/submissions/", b"--x\r\nbroken", content_type="multipart/form-data"
    )
    body = assert_one_shape(response, 400)
    assert set(body) == ONE_SHAPE and body["field"] is None


def test_a_body_in_a_format_the_resource_does_not_read_is_a_415_in_the_one_shape(researcher):
    response = api_client_for(researcher).post("/api/v1/submissions/", {"model_name": "m"}, format="json")
    assert set(assert_one_shape(response, 415)) == ONE_SHAPE


def test_an_upload_without_credentials_is_a_401_in_the_one_shape(db):
    body = assert_one_shape(APIClient().post("/api/v1/submissions/", {}, format="multipart"), 401)
    assert set(body) == ONE_SHAPE and body["field"] is None


def test_a_wrong_token_is_a_401_in_the_one_shape(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    body = assert_one_shape(client.post("/api/v1/submissions/", {}, format="multipart"), 401)
    assert set(body) == ONE_SHAPE and not Token.objects.exists()


def test_a_session_post_without_the_csrf_token_is_a_403_in_the_one_shape(researcher):
    client = Client(enforce_csrf_checks=True)
    client.force_login(researcher)
    body = assert_one_shape(client.post("/api/v1/submissions/", {}), 403)
    assert set(body) == ONE_SHAPE and "CSRF" in body["detail"]


def test_an_unknown_benchmark_is_a_404_in_the_one_shape(db):
    body = assert_one_shape(APIClient().get("/api/v1/benchmarks/no-such-benchmark/"), 404)
    assert set(body) == ONE_SHAPE and body["field"] is None
    # The message names what the person asked for, not the model class Django looked in.
    assert "/api/v1/benchmarks/no-such-benchmark/" in body["detail"] and "Benchmark matches" not in body["detail"]


def test_a_url_no_route_matches_under_the_api_is_a_404_in_the_one_shape(db):
    body = assert_one_shape(Client().get("/api/v1/no-such-resource/"), 404)
    assert set(body) == ONE_SHAPE and "/api/v1/no-such-resource/" in body["detail"]


def test_a_url_no_route_matches_outside_the_api_is_still_a_page(db):
    response = Client().get("/no-such-page/")
    assert response.status_code == 404 and not response["Content-Type"].startswith("application/json")


def test_a_method_the_resource_does_not_have_is_a_405_in_the_one_shape(db):
    body = assert_one_shape(APIClient().delete("/api/v1/benchmarks/"), 405)
    assert set(body) == ONE_SHAPE and "DELETE" in body["detail"]


@pytest.fixture
def low_api_rates(monkeypatch):
    # DRF's throttles read their rates once at import: set them on the class, as settings would.
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "2/minute", "user": "50/minute"})
    # Earlier requests from the same test address are counted in the cache.
    cache.clear()


def test_too_many_requests_is_a_429_in_the_one_shape(db, low_api_rates):
    client = APIClient()
    assert [client.get("/api/v1/benchmarks/").status_code for _ in range(2)] == [200, 200]
    body = assert_one_shape(client.get("/api/v1/benchmarks/"), 429)
    assert set(body) == ONE_SHAPE and body["detail"].startswith("Too many requests")


@pytest.mark.parametrize("value", ["9223372036854775808", "99999999999999999999999", "-1", "0"])
def test_a_compare_id_outside_the_64_bit_range_is_a_400_naming_the_parameter(version, value):
    response = APIClient().get(f"/api/v1/benchmarks/digits/versions/{version.version}/compare/?a={value}&b=1")
    assert response.status_code == 400
    assert response.json()["field"] == "a"
    assert value in response.json()["detail"] or "?a=ID" in response.json()["detail"]


@pytest.mark.parametrize("value", ["9223372036854775808", "99999999999999999999", "0"])
def test_a_submission_id_outside_the_64_bit_range_is_a_404_in_the_one_shape(db, value):
    for path in (f"/api/v1/submissions/{value}/", f"/api/v1/submissions/{value}/provenance/"):
        response = APIClient().get(path)
        assert response.status_code == 404, path
        assert set(response.json()) == {"detail", "field"}
    assert Client().get(f"/submissions/{value}/").status_code == 404


def test_the_largest_64_bit_id_is_looked_up_and_simply_not_found(db):
    response = APIClient().get("/api/v1/submissions/9223372036854775807/")
    assert response.status_code == 404


def test_a_server_error_under_the_api_is_a_500_in_the_one_shape(db, monkeypatch):
    def broken(self, request):
        raise RuntimeError("a bug")

    monkeypatch.setattr("touchstone.api.views.BenchmarkList.get", broken)
    response = Client(raise_request_exception=False).get("/api/v1/benchmarks/")
    assert response.status_code == 500
    assert set(response.json()) == {"detail", "field"}
    assert "a bug" not in response.json()["detail"]


def test_a_server_error_outside_the_api_is_still_a_page(db):
    from django.test import RequestFactory

    from touchstone.api.errors import server_error

    response = server_error(RequestFactory().get("/benchmarks/digits/"))
    assert response.status_code == 500
    assert not response.get("Content-Type", "").startswith("application/json")
