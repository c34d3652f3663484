"""Rates for the API beyond the site-wide anonymous and per-user ones."""

from __future__ import annotations

from rest_framework.throttling import UserRateThrottle


class UploadRateThrottle(UserRateThrottle):
    """Uploads per researcher (``TOUCHSTONE_THROTTLE_UPLOADS``): each one is checked and stored."""

    scope = "uploads"


# Upload views keep the per-user rate as well as their own.
UPLOAD_THROTTLES = [UserRateThrottle, UploadRateThrottle]
