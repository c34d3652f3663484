"""One error shape for the whole API: ``{"detail": message, "field": name-or-null}``."""

from __future__ import annotations

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from leaderboard.submissions.services import SubmissionRejected


def exception_handler(error, context):
    if isinstance(error, SubmissionRejected):
        return Response({"detail": error.message, "field": error.field}, status=error.status)
    return drf_exception_handler(error, context)
