"""One error shape for the whole API: ``{"detail": message, "field": name-or-null}``."""

from __future__ import annotations

import math

from rest_framework.exceptions import Throttled
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from leaderboard.submissions.services import SubmissionRejected


def exception_handler(error, context):
    if isinstance(error, SubmissionRejected):
        return Response({"detail": error.message, "field": error.field}, status=error.status)
    response = drf_exception_handler(error, context)
    if isinstance(error, Throttled) and response is not None:
        # DRF has already set Retry-After; the message says the same in words.
        wait = f"in {math.ceil(error.wait)} seconds" if error.wait is not None else "later"
        response.data = {"detail": f"Too many requests from this client: try again {wait}.", "field": None}
    return response
