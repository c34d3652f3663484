"""What keeps a benchmark's pages whole across a new version: changes, pending work, flags.

Publishing a version re-evaluates the previous version's entries in the background. Until the
new version has a scored entry, the home page shows the previous version's board with a note
saying so, instead of an empty card; the new version's page shows what is still pending and,
once everything is in, how the order changed (``touchstone.rankings.changes``).
"""

from __future__ import annotations

from touchstone.benchmarks.models import Benchmark, BenchmarkVersion
from touchstone.rankings.board_cache import cached_leaderboard
from touchstone.rankings.changes import version_changes
from touchstone.rankings.reevaluation import reevaluations_pending, superseded_version
from touchstone.submissions.models import BaselineCheck, Submission
from touchstone.submissions.queueing import queue_note

#: Pending re-evaluations listed by name on a version's page; the rest are counted.
LISTED_PENDING = 20


def version_context(version: BenchmarkVersion, user) -> dict:
    """The version page's "Changes from" section, its pending re-evaluations and maintainers' flags."""
    changes = version_changes(version)
    waiting = []
    if changes is not None and not changes["complete"]:
        rows = (
            Submission.objects.filter(
                version=version,
                origin=Submission.Origin.REEVALUATION,
                status__in=[Submission.Status.QUEUED, Submission.Status.RUNNING],
            )
            .select_related("reevaluation_of__version__benchmark")
            .order_by("created_at", "pk")[:LISTED_PENDING]
        )
        waiting = [{"submission": row, "note": queue_note(row)} for row in rows]
    flags = []
    if version.benchmark.is_maintained_by(user):
        flags = list(
            BaselineCheck.objects.filter(submission__version=version, flagged=True).select_related("submission")
        )
    return {"changes": changes, "waiting": waiting, "baseline_flags": flags}


def home_card(benchmark: Benchmark) -> dict | None:
    """The benchmark's card on the home page, never empty just because a version was published.

    While the latest version has no entry on its board and an earlier one does, the card shows
    the earlier board and says what is happening ("v1.1.0 published, re-evaluating 4 entries").
    """
    latest = benchmark.latest_version
    if latest is None:
        return None
    payload = cached_leaderboard(latest)[0]
    card = {"benchmark": benchmark, "version": latest, "shown_version": latest, "note": ""}
    if not payload["entries"]:
        earlier = superseded_version(latest) or _previous_visible(latest)
        if earlier is not None:
            earlier_payload = cached_leaderboard(earlier)[0]
            if earlier_payload["entries"]:
                pending = reevaluations_pending(latest)
                card["shown_version"], payload = earlier, earlier_payload
                card["note"] = (
                    f"v{latest.version} published, re-evaluating {pending} entr{'y' if pending == 1 else 'ies'}; "
                    f"this is the board of v{earlier.version}"
                    if pending
                    else f"v{latest.version} published; no entry is scored on it yet, this is the board of "
                    f"v{earlier.version}"
                )
    return {**card, "leaders": payload["entries"][:3], "primary": payload["primary_metric"]}


def _previous_visible(version: BenchmarkVersion) -> BenchmarkVersion | None:
    earlier = version.benchmark.versions.visible().exclude(pk=version.pk)
    if version.published_at is not None:
        earlier = earlier.filter(published_at__lte=version.published_at)
    return earlier.order_by("-published_at", "-id").first()
