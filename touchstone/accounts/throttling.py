"""Counters that slow down guessing: failed log-ins, sign-up attempts, token page views.

Each limit allows a number of attempts per key (a client address, a username, a user) within a
fixed window that starts with the first attempt. Counters live in Django's cache, which
production shares between web processes (``TOUCHSTONE_CACHE_URL``); keys are hashed so that a
username never appears in the cache in clear.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


@dataclass(frozen=True)
class Limit:
    """At most ``attempts`` per key within ``seconds``."""

    scope: str
    attempts: int
    seconds: int

    @property
    def wait_text(self) -> str:
        """The window in words, for messages: the longest anyone has to wait."""
        minutes = self.seconds // 60
        if minutes % 60 == 0:
            hours = minutes // 60
            return "an hour" if hours == 1 else f"{hours} hours"
        return f"{minutes} minutes"

    def _cache_key(self, key: str) -> str:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return f"touchstone:throttle:{self.scope}:{digest}"

    def is_exhausted(self, key: str) -> bool:
        return (cache.get(self._cache_key(key)) or 0) >= self.attempts

    def count(self, key: str) -> None:
        cache_key = self._cache_key(key)
        # add() starts the window only if none is running; incr() keeps the window's expiry.
        cache.add(cache_key, 0, timeout=self.seconds)
        try:
            cache.incr(cache_key)
        except ValueError:
            # The window ended between the two calls: this attempt starts the next one.
            cache.set(cache_key, 1, timeout=self.seconds)

    def forget(self, key: str) -> None:
        cache.delete(self._cache_key(key))


def login_limits() -> tuple[Limit, Limit]:
    """Failed log-ins per client address and per username."""
    attempts = settings.LOGIN_FAILURES_PER_15_MINUTES
    return Limit("login-address", attempts, 15 * 60), Limit("login-username", attempts, 15 * 60)


def signup_limit() -> Limit:
    """Sign-up attempts (successful or not) per client address."""
    return Limit("signup-address", settings.SIGNUPS_PER_HOUR, 60 * 60)


# Viewing or regenerating the API token: generous for a person, useless for a script.
TOKEN_PAGE_LIMIT = Limit("token-page", 30, 15 * 60)
# Each re-send mails the account's address: a few an hour, so that no one can flood an inbox.
RESEND_LIMIT = Limit("confirmation-resend", 3, 60 * 60)
PASSWORD_RESET_LIMIT = Limit("password-reset-address", 5, 60 * 60)


def client_address(request: HttpRequest) -> str:
    """The client's address: the connection's, or the one the trusted proxies recorded.

    With ``TRUSTED_PROXIES = n`` the address is the n-th entry from the right of
    X-Forwarded-For, the one our own outermost proxy appended; entries further left were
    written by the client and could be anything.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    proxies = settings.TRUSTED_PROXIES
    if proxies == 0 or not forwarded:
        return remote
    addresses = [part.strip() for part in forwarded.split(",")]
    return addresses[-min(proxies, len(addresses))]
