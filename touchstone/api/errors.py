"""One error shape for the whole API: ``{"detail": message, "field": name-or-null}``.

Every refusal under ``/api/`` answers with this body, whatever raised it: a form that did not
validate, an unknown id or URL, missing or wrong credentials, a method the resource does not
have, a body that could not be parsed, or too many requests. A script therefore needs one
branch for errors: show ``detail`` to the person and, when ``field`` is set, point at that field.

A validation error can be about several fields at once. Its ``detail`` and ``field`` are the
first message and the field it names (``null`` for a problem with the request as a whole), and
``errors`` maps every field at fault to all of its messages, so nothing is lost.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.urls import reverse
from django.views import defaults
from django.views.defaults import page_not_found
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from touchstone.submissions.services import SubmissionRejected
from touchstone.uploads import UploadTooLarge

API_PREFIX = "/api/"

logger = logging.getLogger(__name__)

FALLBACK_SERVER_ERROR_PAGE = (
    "<!doctype html><title>Server error · Touchstone</title><h1>Something went wrong on our side</h1>"
    "<p>The server failed to answer this request; the error was recorded for the maintainers. Try again in a "
    'few minutes. <a href="/">Touchstone</a></p>'
)


def error_body(detail: str, field: str | None = None) -> dict[str, Any]:
    """The API's error body: a message for a person and the request field it is about, if any."""
    return {"detail": detail, "field": field}


def _messages(value: Any) -> list[str]:
    """Every message in a DRF error value, which nests lists and dicts for list and nested fields."""
    if isinstance(value, dict):
        return [message for nested in value.values() for message in _messages(nested)]
    if isinstance(value, (list, tuple)):
        return [message for nested in value for message in _messages(nested)]
    return [str(value)]


def _absolute(request: Any, path: str) -> str:
    return request.build_absolute_uri(path) if request is not None else path


def validation_body(detail: Any) -> dict[str, Any]:
    """``ValidationError.detail`` (a dict of fields, or a list for the request as a whole) in the one shape."""
    non_field = api_settings.NON_FIELD_ERRORS_KEY
    if not isinstance(detail, dict):
        detail = {non_field: detail}
    errors = {name: _messages(value) for name, value in detail.items()}
    errors = {name: messages for name, messages in errors.items() if messages}
    if not errors:
        return {**error_body("The request is not valid."), "errors": {}}
    first_name, first_messages = next(iter(errors.items()))
    field = None if first_name == non_field else first_name
    return {**error_body(first_messages[0], field), "errors": errors}


def exception_handler(error: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler with every response it builds rewritten into the one error shape.

    An error is JSON even where the caller asked for CSV (``?format=csv``): the one shape is the
    same for every endpoint and format, and the schema documents it as JSON.
    """
    request = context.get("request")
    if request is not None:
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = "application/json"
    if isinstance(error, SubmissionRejected):
        body = error_body(error.message, error.field)
        if error.earlier is not None:
            # An identical file was submitted before: point at it, in the API and on the site.
            body["submission"] = error.earlier.pk
            body["url"] = _absolute(request, reverse("api:submission", args=[error.earlier.pk]))
            body["page"] = _absolute(request, error.earlier.get_absolute_url())
        return Response(body, status=error.status)
    if isinstance(error, UploadTooLarge):
        return Response(error_body(str(error.detail), "model_file"), status=error.status_code)
    response = drf_exception_handler(error, context)
    if response is None:
        # Not an API error (a bug): Django answers 500 and reports it as usual.
        return None
    if isinstance(error, Throttled):
        # DRF has already set Retry-After; the message says the same in words.
        wait = f"in {math.ceil(error.wait)} seconds" if error.wait is not None else "later"
        response.data = error_body(f"Too many requests from this client: try again {wait}.")
    elif isinstance(error, ValidationError):
        response.data = validation_body(error.detail)
    elif isinstance(error, Http404):
        # Django's own message names a model class ("No BenchmarkVersion matches the given
        # query"), which says nothing to the person holding the URL.
        path = context["request"].path if context.get("request") is not None else "this URL"
        response.data = error_body(
            f"Nothing public at {path}: check the benchmark, version or submission id (submissions "
            "that are not scored yet are visible only to their owner)."
        )
    else:
        # Not found, authentication, permission, method, parse and media-type errors all carry a
        # single message in ``detail``.
        detail = response.data.get("detail") if isinstance(response.data, dict) else None
        response.data = error_body(str(detail) if detail is not None else _messages(response.data)[0])
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 404 for a URL no route matches: JSON in the one shape under ``/api/``, the page elsewhere."""
    if request.path.startswith(API_PREFIX):
        body = error_body(f"There is no API resource at {request.path}; the list of resources is at /api/v1/docs/.")
        return JsonResponse(body, status=404)
    return page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's 500: JSON in the one shape under ``/api/``, the page elsewhere (the error is logged as usual)."""
    if request.path.startswith(API_PREFIX):
        body = error_body(
            "The server failed to answer this request; the error was recorded for the maintainers. Try again "
            "later, and tell them if it keeps happening."
        )
        return JsonResponse(body, status=500)
    try:
        return defaults.server_error(request)
    except Exception:
        # The page's own links failed too (a URL configuration that does not load, say): a bare
        # page still tells the visitor what happened rather than leaving the connection to drop.
        logger.exception("The 500 page could not be rendered")
        return HttpResponseServerError(FALLBACK_SERVER_ERROR_PAGE)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 400 (a request it refused before any view, such as a bad host or a malformed body)."""
    if request.path.startswith(API_PREFIX):
        detail = str(exception) if exception is not None and str(exception) else "The request is malformed."
        return JsonResponse(error_body(f"Bad request: {detail}"), status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 403 outside DRF's views, for example a refused cross-site request."""
    if request.path.startswith(API_PREFIX):
        detail = str(exception) if exception is not None and str(exception) else "You may not do this."
        return JsonResponse(error_body(detail), status=403)
    return defaults.permission_denied(request, exception)
