from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def site_status(request: HttpRequest) -> dict:
    """Lets every page warn loudly while models run without the sandbox."""
    return {"unsandboxed_models": settings.ALLOW_UNSANDBOXED_MODELS}
