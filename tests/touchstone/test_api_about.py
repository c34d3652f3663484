"""``GET /api/v1/about/`` names the site and its release, so a client can say what it talks to."""

from __future__ import annotations

from rest_framework.test import APIClient

import evaluation


def test_it_names_touchstone_its_versions_and_its_limits(db, settings):
    settings.MAX_UPLOAD_BYTES = 7 * 1024 * 1024
    settings.EVALUATION_BATCH_SIZE = 64
    response = APIClient().get("/api/v1/about/")
    assert response.status_code == 200
    assert response.json() == {
        "name": "Touchstone",
        "version": evaluation.__version__,
        "evaluator_version": evaluation.EVALUATOR_VERSION,
        "api": "v1",
        "max_upload_bytes": 7 * 1024 * 1024,
        "evaluation_batch_size": 64,
        "sandbox_memory_bytes": settings.SANDBOX_MEMORY_BYTES,
    }


def test_it_is_in_the_schema_field_by_field(db):
    schema = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    answer = schema["paths"]["/api/v1/about/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    about = schema["components"]["schemas"][answer["$ref"].rsplit("/", 1)[-1]]
    assert set(about["properties"]) == {
        "name",
        "version",
        "evaluator_version",
        "api",
        "max_upload_bytes",
        "evaluation_batch_size",
        "sandbox_memory_bytes",
    }
