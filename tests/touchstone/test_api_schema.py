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
