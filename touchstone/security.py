"""The site's browser defences that Django does not provide itself.

Django 5.2 sets HSTS, nosniff, the referrer and opener policies and X-Frame-Options from
settings; the Content-Security-Policy header comes from here. A deployment check warns when
throttling counters cannot be shared between web processes.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.http import HttpRequest, HttpResponse


class ContentSecurityPolicyMiddleware:
    """Add ``settings.CONTENT_SECURITY_POLICY`` to every response that does not set its own.

    With ``script-src 'self'`` a browser runs only scripts served as files by this site, so a
    name or description that slipped past escaping still cannot run as code.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy:
            header = (
                "Content-Security-Policy-Report-Only"
                if settings.CONTENT_SECURITY_POLICY_REPORT_ONLY
                else "Content-Security-Policy"
            )
            response.headers.setdefault(header, policy)
        return response


@register(Tags.security, deploy=True)
def check_shared_cache(app_configs, **kwargs) -> list[Warning]:
    """Warn when throttles count in a per-process cache, which multiplies every limit."""
    backend = settings.CACHES["default"]["BACKEND"]
    if backend.endswith("LocMemCache"):
        return [
            Warning(
                "Throttling counters are kept in each process's own memory, so every web process "
                "allows the full number of log-in attempts and requests.",
                hint="Set TOUCHSTONE_CACHE_URL=redis://host:6379/1 so that all web processes share them.",
                id="touchstone.W001",
            )
        ]
    return []
