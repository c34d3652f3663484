from __future__ import annotations

import io

import numpy as np
from rest_framework.test import APIClient


def test_it_lists_benchmarks_with_their_latest_version(version):
    response = APIClient().get("/api/v1/benchmarks/")
    assert response.status_code == 200
    (benchmark,) = response.json()
    assert benchmark["slug"] == "digits"
    assert benchmark["latest_version"] == version.version
    assert [v["version"] for v in benchmark["versions"]] == [version.version]


def test_it_shows_a_version_with_its_hash_and_classes(version):
    response = APIClient().get(f"/api/v1/benchmarks/digits/versions/{version.version}/")
    assert response.status_code == 200
    body = response.json()
    assert body["content_hash"] == version.content_hash
    assert body["classes"] == [str(i) for i in range(10)]
    assert body["primary_metric"] == "accuracy"
    assert body["dev_split_url"].endswith(f"/api/v1/benchmarks/digits/versions/{version.version}/dev-split")


def test_it_serves_the_public_dev_split_to_anyone(version, digits_folder):
    response = APIClient().get(f"/api/v1/benchmarks/digits/versions/{version.version}/dev-split")
    assert response.status_code == 200
    content = b"".join(response.streaming_content)
    assert content == (digits_folder / "dev.npz").read_bytes()
    with np.load(io.BytesIO(content)) as dev:
        assert "labels" in dev.files and "inputs" in dev.files


def test_the_hidden_split_has_no_route(version):
    for path in ("test-split", "test.npz", "../test.npz"):
        response = APIClient().get(f"/api/v1/benchmarks/digits/versions/{version.version}/{path}")
        assert response.status_code == 404


def test_an_unknown_version_is_a_404_with_a_message(version):
    response = APIClient().get("/api/v1/benchmarks/digits/versions/9.9.9/")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_it_serves_the_openapi_schema_and_docs_without_a_cdn(db):
    schema = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/v1/submissions/" in text and "/api/v1/benchmarks/{slug}/versions/{version}/leaderboard/" in text
    docs = APIClient().get("/api/v1/docs/")
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "swagger-ui" in page
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()
