"""The public leaderboard of a version, kept in Django's cache until what it is read from changes.

``disclosure.leaderboard`` is the same for every viewer: it holds only what the open-version
rule lets anyone see, and nothing that depends on who asks. Building it costs a handful of
queries and a pass over every entry, and the leaderboard page and API are read far more often
than the board changes, so pages and the API take it from here.

A cached board is found by a fingerprint of everything it is read from, taken with two cheap
queries before the board is built: the version itself, its stored snapshot (rewritten, with its
entries and Ladder releases, in the transaction that stores a recompute), the version's status
and generation (counted up by every scoring, withdrawal and freeze), and its submissions (their
number, for the teams' submission counts; how many are scored, since a withdrawn entry leaves
the board at once; the newest change to a scored one, for a model name corrected in the admin).
Nothing has to be invalidated: a change gives a new fingerprint, and the old entry expires
unread. The board is built after the fingerprint is read, so an entry can only be newer than
its key, never older. A cache that fails only means building the board.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache, caches
from django.db.models import Count, Max, Q

from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.rankings import disclosure
from touchstone.rankings.models import LeaderboardSnapshot
from touchstone.submissions.models import Submission, TeamMembership

# Part of every key: bump it when the board's shape, the API's fields or the page's table change,
# so that a cache shared across a deployment never hands the new release what the old one built
# (it would otherwise expire within SECONDS).
FORMAT = 1
SECONDS = 600

T = TypeVar("T")
logger = logging.getLogger(__name__)


def board_fingerprint(version: BenchmarkVersion) -> str:
    """A string that changes whenever the public board of ``version`` may change."""
    snapshot = (
        LeaderboardSnapshot.objects.filter(version=version).values_list("pk", "computed_at", "computed_generation")
    ).first()
    scored = Q(status=Submission.Status.SCORED)
    counts = Submission.objects.filter(version=version).aggregate(
        uploads=Count("pk", filter=Q(is_baseline=False)),
        newest=Max("pk"),
        scored=Count("pk", filter=scored),
        touched=Max("updated_at", filter=scored),
    )
    # The board names each team's members: joining or leaving a team changes it too.
    members = TeamMembership.objects.filter(benchmark_id=version.benchmark_id).aggregate(
        count=Count("pk"), newest=Max("pk")
    )
    stamp = snapshot[1].timestamp() if snapshot else None
    touched = counts["touched"].timestamp() if counts["touched"] else None
    published = version.published_at.timestamp() if version.published_at else None
    parts = (
        FORMAT,
        # The version's identity in full, not only its id: a database restored or rebuilt (as a
        # test database is) may give another version the same id.
        version.pk,
        version.benchmark_id,
        version.version,
        version.content_hash,
        published,
        version.status,
        version.generation,
        snapshot and snapshot[0],
        stamp,
        snapshot and snapshot[2],
        counts["uploads"],
        counts["newest"],
        counts["scored"],
        touched,
        members["count"],
        members["newest"],
    )
    return ":".join(str(part) for part in parts)


def recent_fingerprint(version: BenchmarkVersion) -> str:
    """``board_fingerprint(version)`` as it was at most ``settings.PUBLIC_CACHE_SECONDS`` ago.

    For anonymous readers of the board, who may be served a board that many seconds old (as
    ``front/page_cache.py`` serves them pages): it spares the fingerprint's queries on most reads.
    It is kept in the web process's own memory (the ``public`` cache). Once half that time has
    passed, one reader takes the fingerprint again and builds the board it names before handing
    it on, while the others keep the one they had, so a change of the board never has every
    reader building it at once.
    """
    seconds = settings.PUBLIC_CACHE_SECONDS
    if seconds <= 0:
        return board_fingerprint(version)
    key = f"board-recent:{FORMAT}:{version.pk}:{version.content_hash}"
    found = caches["public"].get(key)
    if found is not None and not refresh_due(key, found[0], seconds):
        return found[1]
    fingerprint = board_fingerprint(version)
    cached_leaderboard(version, fingerprint)
    caches["public"].set(key, (time.time(), fingerprint), seconds)
    return fingerprint


def refresh_due(key: str, made: float, seconds: int) -> bool:
    """Whether this request should make again what the ``public`` cache holds under ``key``, made at ``made``.

    Something kept for ``seconds`` is made again by the first request that asks once half of
    that has passed; the requests that ask meanwhile keep the copy they found. The claim is an
    atomic ``add``, so one thread of the web process wins it.
    """
    if time.time() - made < seconds / 2:
        return False
    return bool(caches["public"].add(f"{key}:refreshing", True, max(1, seconds // 2)))


def derived(fingerprint: str, name: str, build: Callable[[], T]) -> T:
    """What ``build`` makes from the public board, cached under the board's fingerprint as ``name``."""
    key = f"board-{name}:{fingerprint}"
    found = _read(key)
    if found is None:
        found = build()
        _write(key, found)
    return found


# The cache only saves work: a cache that fails (Redis restarting, say) must not fail the page,
# which is then built as if nothing were cached. Whatever the backend raises is caught, as each
# raises its own exceptions.
def _read(key: str) -> Any:
    try:
        return cache.get(key)
    except Exception:
        logger.warning("the cache could not be read; the board is built without it", exc_info=True)
        return None


def _write(key: str, value: object) -> None:
    try:
        cache.set(key, value, SECONDS)
    except Exception:
        logger.warning("the cache could not be written; the board will be built again", exc_info=True)


def cached_leaderboard(version: BenchmarkVersion, fingerprint: str | None = None) -> tuple[dict, str]:
    """``disclosure.leaderboard(version)`` and its fingerprint, from the cache when it is current.

    Callers that derive something public from the board (a chart, rendered cells) may cache it
    under the fingerprint too, and pass the fingerprint they read first back here.
    """
    fingerprint = fingerprint or board_fingerprint(version)
    return derived(fingerprint, "payload", lambda: disclosure.leaderboard(version)), fingerprint
