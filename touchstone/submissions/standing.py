"""Where a researcher stands on a version: the quota left today, the size limit, earlier files.

The upload page, the API (``GET /api/v1/quota/``) and the command-line client all show the same
figures, from ``standing``. Sizes are in MiB (2^20 bytes) everywhere the site names one,
including the refusal of a file that is too large.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.submissions.models import Submission
from touchstone.submissions.teams import team_name_for
from touchstone.uploads import mib

QUOTA_WINDOW = timedelta(days=1)
"""A submission counts against the quota for this long after it was made."""


def counted_submissions(*, owner, version: BenchmarkVersion):
    """The submissions of the last 24 hours that count against the quota.

    Refused uploads never become submissions; failures caused by the site and failures of the
    model's preflight on public items are stored with ``counts_against_quota`` off.
    """
    since = timezone.now() - QUOTA_WINDOW
    return Submission.objects.filter(
        quota_holders(owner, version),
        version=version,
        created_at__gte=since,
        counts_against_quota=True,
        is_baseline=False,
    )


def quota_holders(owner, version: BenchmarkVersion) -> Q:
    """Whose uploads share the owner's quota: the whole team's, and the owner's own under any team."""
    return Q(owner=owner) | Q(team=team_name_for(owner, version.benchmark))


@dataclass(frozen=True)
class Standing:
    """The quota and the size limit of one researcher on one version, as the site enforces them."""

    used: int
    limit: int
    next_slot_at: datetime | None
    """When the oldest counted submission leaves the 24-hour window (``None`` if none counts)."""
    max_upload_bytes: int

    @property
    def left(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def max_upload(self) -> str:
        return mib(self.max_upload_bytes)

    def sentence(self) -> str:
        """The standing in one sentence, as the upload page shows it."""
        text = (
            f"{self.left} of {self.limit} submissions left in the last 24 hours; "
            f"the model file may be at most {self.max_upload}."
        )
        if self.left == 0 and self.next_slot_at is not None:
            text += f" The next one is possible at {self.next_slot_at:%Y-%m-%d %H:%M} UTC."
        return text

    def as_dict(self) -> dict[str, object]:
        return {
            "used": self.used,
            "limit": self.limit,
            "left": self.left,
            "window_hours": int(QUOTA_WINDOW.total_seconds() // 3600),
            "next_slot_at": self.next_slot_at,
            "max_upload_bytes": self.max_upload_bytes,
            "max_upload": self.max_upload,
        }


def standing(*, owner, version: BenchmarkVersion) -> Standing:
    counted = counted_submissions(owner=owner, version=version)
    used = counted.count()
    next_slot = None
    if used >= settings.SUBMISSIONS_PER_DAY:
        # A slot opens when enough of the counted submissions left the window to go below the limit.
        times = counted.order_by("created_at").values_list("created_at", flat=True)
        next_slot = times[used - settings.SUBMISSIONS_PER_DAY] + QUOTA_WINDOW
    return Standing(
        used=used,
        limit=settings.SUBMISSIONS_PER_DAY,
        next_slot_at=next_slot,
        max_upload_bytes=settings.MAX_UPLOAD_BYTES,
    )


def identical_submission(*, version: BenchmarkVersion, team: str, sha256: str) -> Submission | None:
    """The team's earlier submission of the same file (by SHA-256) to ``version``, if any.

    A failure that counts against no quota (the site's fault, or the preflight's) and a
    withdrawal before the file was scored do not block sending the same file again; a withdrawn
    scored submission does (it can be restored instead).
    """
    return (
        Submission.objects.filter(version=version, team=team, sha256=sha256, is_baseline=False)
        .exclude(Q(status=Submission.Status.FAILED) & Q(counts_against_quota=False))
        .exclude(Q(status=Submission.Status.WITHDRAWN) & Q(scored_at__isnull=True))
        .order_by("created_at")
        .first()
    )


OWN_LIST_LIMIT = 500
"""The most submissions one list of a researcher's own shows, newest first."""


class UnknownFilter(ValueError):
    """A filter of the own-submissions list names something that does not exist."""


def own_submissions(*, owner, benchmark: str = "", version: str = "", status: str = ""):
    """The researcher's submissions, newest first, filtered by benchmark slug, version and status.

    Withdrawn ones are included: their owner always sees them.
    """
    found = Submission.objects.filter(owner=owner).select_related("version__benchmark", "owner")
    if status:
        if status not in Submission.Status.values:
            known = ", ".join(Submission.Status.values)
            raise UnknownFilter(f"there is no status {status!r}; use one of {known}")
        found = found.filter(status=status)
    if benchmark:
        found = found.filter(version__benchmark__slug=benchmark)
    if version:
        found = found.filter(version__version=version)
    return found.order_by("-created_at", "-pk")
