"""The OpenAPI schema documents, field by field, the responses researchers script against."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient


@pytest.fixture
def schema(db) -> dict:
    response = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def resolve(schema: dict, node: dict) -> dict:
    """The component a ``$ref`` points at (or the node itself), following ``allOf`` wrappers."""
    while True:
        if "$ref" in node:
            node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
        elif "allOf" in node and len(node["allOf"]) == 1:
            node = node["allOf"][0]
        else:
            return node


def response_schema(schema: dict, path: str, status: str = "200") -> dict:
    content = schema["paths"][path]["get"]["responses"][status]["content"]
    return resolve(schema, content["application/json"]["schema"])


def test_the_leaderboard_response_and_its_entries_are_documented_field_by_field(schema):
    board = response_schema(schema, "/api/v1/benchmarks/{slug}/versions/{version}/leaderboard/")
    assert {"part", "primary_metric", "metrics", "n_items", "minimum_detectable_effect", "entries"} <= set(
        board["properties"]
    )
    entry = resolve(schema, board["properties"]["entries"]["items"])
    assert {
        "rank",
        "rank_lower",
        "rank_upper",
        "tier",
        "p_value_vs_leader",
        "submission",
        "team",
        "sha256",
        "metrics",
    } <= set(entry["properties"])
    interval = resolve(schema, entry["properties"]["metrics"]["additionalProperties"])
    assert set(interval["properties"]) == {"value", "ci_low", "ci_high"}


def test_the_comparison_response_is_documented_field_by_field(schema):
    comparison = response_schema(schema, "/api/v1/benchmarks/{slug}/versions/{version}/compare/")
    assert {
        "part",
        "n_items",
        "metric",
        "a",
        "b",
        "difference",
        "p_value",
        "method",
        "a_only_correct",
        "b_only_correct",
    } == set(comparison["properties"])
    difference = resolve(schema, comparison["properties"]["difference"])
    assert set(difference["properties"]) == {"value", "ci_low", "ci_high"}


def test_the_provenance_response_is_documented_section_by_section(schema):
    provenance = response_schema(schema, "/api/v1/submissions/{id}/provenance/")
    assert {"submission", "attempt", "artifact", "benchmark", "cost", "predictions_hmac_sha256"} <= set(
        provenance["properties"]
    )
    cost = resolve(schema, provenance["properties"]["cost"])
    assert set(cost["properties"]) == {"median_batch_seconds", "peak_memory_bytes", "startup_seconds"}


def test_errors_are_documented_in_the_one_error_shape(schema):
    error = response_schema(schema, "/api/v1/benchmarks/{slug}/versions/{version}/compare/", "404")
    assert {"detail", "field"} <= set(error["properties"])


def test_the_uploaded_model_file_is_typed_as_a_binary_file(schema):
    body = schema["paths"]["/api/v1/submissions/"]["post"]["requestBody"]["content"]["multipart/form-data"]
    model_file = resolve(schema, body["schema"])["properties"]["model_file"]
    assert model_file["type"] == "string"
    assert model_file["format"] == "binary"


def test_every_operation_documents_the_error_statuses_it_can_answer(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "delete"}:
                continue
            statuses = set(operation["responses"])
            assert {"401", "406", "429"} <= statuses, (method, path)
            if "{" in path:
                assert "404" in statuses, (method, path)
            if method != "get":
                assert {"400", "403"} <= statuses, (method, path)
            for status in statuses - {"200", "201"}:
                content = operation["responses"][status].get("content", {})
                if "application/json" in content:
                    error = resolve(schema, content["application/json"]["schema"])
                    assert {"detail", "field"} <= set(error["properties"]), (method, path, status)


def test_the_upload_documents_its_size_and_media_type_refusals(schema):
    assert {"201", "400", "401", "403", "413", "415", "429"} <= set(
        schema["paths"]["/api/v1/submissions/"]["post"]["responses"]
    )


def test_path_ids_are_documented_as_64_bit_positive_integers(schema):
    parameters = schema["paths"]["/api/v1/submissions/{id}/"]["get"]["parameters"]
    (identifier,) = [p for p in parameters if p["name"] == "id"]
    assert identifier["schema"]["type"] == "integer"
    assert identifier["schema"]["minimum"] == 1 and identifier["schema"]["maximum"] == 2**63 - 1


def test_a_queued_submission_documents_its_place_in_the_queue(schema):
    submission = response_schema(schema, "/api/v1/submissions/{id}/")
    assert {"queue_position", "queued_ahead"} <= set(submission["properties"])
