from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from touchstone.submissions.health import latest_health
from touchstone.submissions.status import may_see_status


def site_status(request: HttpRequest) -> dict:
    """Lets every page warn loudly while models run without the sandbox or it is broken."""
    health = latest_health()
    return {
        "unsandboxed_models": settings.ALLOW_UNSANDBOXED_MODELS,
        "sandbox_broken": health is not None and not health.ok,
        # The status page is linked for staff and benchmarks' maintainers only.
        "sees_status": may_see_status(request.user) if hasattr(request, "user") else False,
    }
