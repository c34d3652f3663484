"""The settings of Django REST framework and of the OpenAPI schema (drf-spectacular)."""

from __future__ import annotations

from typing import Any

from touchstone.env import env_rate


def rest_framework(*, trusted_proxies: int) -> dict[str, Any]:
    """``REST_FRAMEWORK``, with the throttle rates read from ``TOUCHSTONE_THROTTLE_*``.

    ``trusted_proxies`` is ``TRUSTED_PROXIES``: the throttles count by the client's address as
    the site counts it everywhere else.
    """
    return {
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "rest_framework.authentication.TokenAuthentication",
            "rest_framework.authentication.SessionAuthentication",
        ],
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
        "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        "EXCEPTION_HANDLER": "touchstone.api.errors.exception_handler",
        "DEFAULT_THROTTLE_CLASSES": [
            "rest_framework.throttling.AnonRateThrottle",
            "rest_framework.throttling.UserRateThrottle",
        ],
        # The command-line client polls a submission twice a second while it waits, so the rates
        # leave room for that; uploads are expensive to check and have their own, lower rate.
        "DEFAULT_THROTTLE_RATES": {
            "anon": env_rate("TOUCHSTONE_THROTTLE_ANON", "300/minute"),
            "user": env_rate("TOUCHSTONE_THROTTLE_USER", "600/minute"),
            "uploads": env_rate("TOUCHSTONE_THROTTLE_UPLOADS", "100/hour"),
            # Comparisons that are not stored yet run a bootstrap in the web process.
            "compare": env_rate("TOUCHSTONE_THROTTLE_COMPARE", "120/hour"),
            "compare_anon": env_rate("TOUCHSTONE_THROTTLE_COMPARE_ANON", "30/hour"),
        },
        "NUM_PROXIES": trusted_proxies,
    }


def spectacular() -> dict[str, Any]:
    """``SPECTACULAR_SETTINGS``: how the OpenAPI schema and its docs page are made."""
    return {
        "TITLE": "Touchstone API",
        "DESCRIPTION": "Benchmarks, leaderboards with intervals, and model submissions.",
        "VERSION": "1",
        "SERVE_INCLUDE_SCHEMA": False,
        # The docs page is served from our own static files: no CDN.
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
        # Request bodies get their own components, so that an uploaded file is typed as binary.
        "COMPONENT_SPLIT_REQUEST": True,
        # Row ids in paths (touchstone/converters.py): 64-bit positive integers.
        "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}},
        # Every error status an endpoint can answer is documented, in the one error shape.
        "POSTPROCESSING_HOOKS": [
            "drf_spectacular.hooks.postprocess_schema_enums",
            "touchstone.api.schema.document_error_statuses",
        ],
    }
