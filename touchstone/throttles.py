"""Rates for uploads and comparisons computed on request, shared by the API and the pages."""

from __future__ import annotations

import math

from django.http import HttpRequest
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class UploadRateThrottle(UserRateThrottle):
    """Uploads per researcher (``TOUCHSTONE_THROTTLE_UPLOADS``): each one is checked and stored."""

    scope = "uploads"


# Upload views keep the per-user rate as well as their own.
UPLOAD_THROTTLES = [UserRateThrottle, UploadRateThrottle]


class ComparisonAnonRateThrottle(AnonRateThrottle):
    """Comparisons computed on request for visitors, per client address (``TOUCHSTONE_THROTTLE_COMPARE_ANON``)."""

    scope = "compare_anon"


class ComparisonUserRateThrottle(UserRateThrottle):
    """Comparisons computed on request for researchers, per account (``TOUCHSTONE_THROTTLE_COMPARE``)."""

    scope = "compare"

    def get_cache_key(self, request, view):
        # Visitors are counted by the stricter anonymous rate only.
        if not (request.user and request.user.is_authenticated):
            return None
        return super().get_cache_key(request, view)


COMPARISON_THROTTLES = (ComparisonAnonRateThrottle, ComparisonUserRateThrottle)


def comparison_wait(request: HttpRequest, view: object = None) -> int | None:
    """Count one comparison computed for this client; None if within its rate, else seconds to wait.

    Only comparisons that run a bootstrap are counted: stored ones (adjacent ranks, pairs anyone
    compared before) cost a read. The API and the compare page call this with their own kind of
    request and share one count per client, because a bootstrap costs the same from either.
    """
    for throttle_class in COMPARISON_THROTTLES:
        throttle = throttle_class()
        if not throttle.allow_request(request, view):
            wait = throttle.wait()
            return max(1, math.ceil(wait)) if wait is not None else 1
    return None
