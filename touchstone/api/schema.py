"""Every error status an endpoint can answer, documented in the OpenAPI schema.

The views document their own refusals (a 409 for a frozen version, a 403 for another
researcher's submission). What every endpoint of a kind can answer is added here, after
drf-spectacular has built the schema, so that no endpoint forgets one: 401 for a token that is
wrong or expired (checked on every request), 429 for the rate limits, 404 for an id or slug in
the path that names nothing, 406 for an ``Accept`` header no renderer satisfies, and for
endpoints that take a body, 400, 403 (a refused cross-site request), 413 and 415. Each uses the
one error shape of ``touchstone.api.errors``.
"""

from __future__ import annotations

from typing import Any

ERROR_REF = {"$ref": "#/components/schemas/Error"}

DESCRIPTIONS = {
    "400": "The request is not valid; ``field`` names the part at fault.",
    "401": "The credentials sent are wrong or expired, or the endpoint needs an account and none was sent.",
    "403": "The account may not do this, or a signed-in browser request lacks its CSRF token.",
    "404": "Nothing visible to the caller at this path (an unknown id or slug, or another researcher's "
    "submission that is not scored yet).",
    "406": "None of the formats in the Accept header can be served.",
    "413": "The body, or the file in it, is larger than the upload limit.",
    "415": "The body's Content-Type is not one this endpoint reads.",
    "429": "Too many requests from this client; Retry-After says when to try again.",
}

METHODS = ("get", "post", "put", "patch", "delete")


def _statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    statuses = ["401", "406", "429"]
    if "{" in path:
        statuses.append("404")
    if operation.get("parameters") and any(p.get("in") == "query" for p in operation["parameters"]):
        statuses.append("400")
    if method != "get":
        statuses += ["400", "403"]
    if "requestBody" in operation:
        statuses += ["413", "415"]
    return statuses


def document_error_statuses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: add the error statuses an operation can answer."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    if "Error" not in schemas:
        return result
    for path, item in result.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in _statuses(path, method, operation):
                responses.setdefault(
                    status,
                    {"content": {"application/json": {"schema": ERROR_REF}}, "description": DESCRIPTIONS[status]},
                )
    return result
