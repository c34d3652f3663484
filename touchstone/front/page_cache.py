"""Public pages served to anonymous visitors from memory for a few seconds.

The home, benchmark and leaderboard pages are what most visitors read, and every anonymous
visitor is shown the same copy of each: the public board, never anything of their own. Such a
page, rendered once, is kept in the web process's memory (the ``public`` cache) for
``settings.PUBLIC_CACHE_SECONDS`` under its address and handed as is to the anonymous visitors who ask within that time, so a crowd reading a board
while submissions drain costs one rendering every few seconds, not one per request. Once half
that time has passed, the next visitor renders the page again while the others are still
handed the copy (``refresh_due``): a crowd never renders it all at once. A page is at most
that many seconds old; what it shows is never more than anyone could have seen then.

A request counts as anonymous here only if it carries no session cookie and no pending message:
a signed-in visitor, or one in the middle of something (a message to show, a form under way), is
never served from the cache and never fills it. A page is kept only if it is a plain 200 that
set no cookie, asked for no CSRF token, wrote nothing to a session and queued no message, so
nothing that belongs to one visitor can be handed to another. The middleware runs on a cached
page as on any other (security headers, the content security policy). Addresses with a query
string are always rendered, so nobody can fill the memory with copies of one page.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers

from touchstone.rankings.board_cache import FORMAT, refresh_due


def public_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Serve ``view``'s page to anonymous visitors from the cache while it is fresh enough."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        seconds = settings.PUBLIC_CACHE_SECONDS
        # Only plain addresses: a query string would let anyone fill the cache with copies.
        if seconds <= 0 or request.method != "GET" or request.META.get("QUERY_STRING") or not is_anonymous(request):
            return view(request, *args, **kwargs)
        key = page_key(request)
        found = caches["public"].get(key)
        if found is not None and not refresh_due(key, found[0], seconds):
            _, content, headers = found
            response = HttpResponse(content)
            for name, value in headers:
                response[name] = value
            patch_vary_headers(response, ["Cookie"])
            return response
        response = view(request, *args, **kwargs)
        if storable(request, response):
            caches["public"].set(key, (time.time(), response.content, list(response.items())), seconds)
        return response

    return wrapper


def is_anonymous(request: HttpRequest) -> bool:
    """Whether ``request`` is from a visitor with no session and no message waiting to be shown."""
    cookies = request.COOKIES
    return settings.SESSION_COOKIE_NAME not in cookies and CookieStorage.cookie_name not in cookies


def page_key(request: HttpRequest) -> str:
    # Scheme and host included: pages hold absolute links (the Croissant record).
    address = request.build_absolute_uri(request.path).encode()
    return f"public-page:{FORMAT}:{hashlib.sha256(address).hexdigest()}"


def storable(request: HttpRequest, response: HttpResponse) -> bool:
    """Whether ``response`` is the same for every anonymous visitor and may be handed to the next."""
    if response.status_code != 200 or response.streaming or response.cookies:
        return False
    # Django marks the request when a page asks for a CSRF token (a form): that token is the visitor's.
    if request.META.get("CSRF_COOKIE_NEEDS_UPDATE"):
        return False
    session = getattr(request, "session", None)
    if session is not None and session.modified:
        return False
    stored = getattr(request, "_messages", None)
    return not (stored is not None and stored.added_new)
