"""Retrying a request through a server's transient failures, with exponential backoff and a cap."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from evaluation.client_errors import ClientError, TransientError

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """How long to wait between attempts, and when to stop trying."""

    first_seconds: float = 1.0
    """The wait after the first failure; each further failure doubles it."""
    cap_seconds: float = 30.0
    """The longest single wait."""
    give_up_seconds: float = 600.0
    """How long failures may go on, from the first one, before the caller is told."""

    def delay(self, failures: int) -> float:
        """The wait after ``failures`` failures in a row (1 for the first)."""
        return float(min(self.cap_seconds, self.first_seconds * 2 ** max(0, failures - 1)))


def retry_transient(
    call: Callable[[], T],
    *,
    backoff: Backoff,
    say: Callable[[str], None],
    what: str,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()``, again after each ``TransientError`` until it answers or ``backoff`` gives up.

    ``say`` is told of every failure and of the wait that follows it; ``what`` names the
    request in those messages and in the ``ClientError`` raised on giving up. Any other
    ``ClientError`` (a refusal) is raised at once.
    """
    failures = 0
    started = 0.0
    while True:
        try:
            return call()
        except TransientError as error:
            now = clock()
            if failures == 0:
                started = now
            failures += 1
            waited = now - started
            wait = backoff.delay(failures)
            if waited + wait > backoff.give_up_seconds:
                raise ClientError(
                    f"gave up {what} after {failures} failed attempts over {waited:.0f} s; the last: {error}"
                ) from None
            say(f"{what}: {error}; trying again in {wait:g} s (attempt {failures + 1})")
            sleep(wait)
