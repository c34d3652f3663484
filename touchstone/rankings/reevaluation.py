"""Which entries follow a benchmark to its new version, and the rows that re-evaluate them.

When a version is published, each team's current entry on the version it supersedes and each
pinned baseline scored there is evaluated again on the new version: the same model file (the
stored file itself, not a copy), team and owner, not counted against any quota, linked to the
submission it re-evaluates. The rows wait in the background queue (``submissions.queueing``)
behind researchers' uploads, and climb the new version's Ladder like any submission.
"""

from __future__ import annotations

from django.db import transaction

from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.rankings.ladder import ladder_states
from touchstone.rankings.models import LadderRelease, LeaderboardEntry, LeaderboardSnapshot
from touchstone.submissions.models import Submission


def current_entries(version: BenchmarkVersion, *, as_of=None) -> list[Submission]:
    """Each team's current entry on ``version``, and each baseline's, oldest first.

    Open: its released submission on the Ladder (the team's last improving release, as of
    ``as_of`` when given), if it is still public. Frozen or deprecated: its entry on the final
    board. Withdrawn and failed submissions are never entries.
    """
    final_board = LeaderboardSnapshot.objects.filter(version=version, part="final").exists()
    if version.reveals_final_scores and final_board:
        ids = set(LeaderboardEntry.objects.filter(version=version).values_list("submission_id", flat=True))
    else:
        log = LadderRelease.objects.filter(version=version, improved=True).order_by("sequence")
        if as_of is not None:
            log = log.filter(created_at__lte=as_of)
        ids = {release.submission_id for release in ladder_states(log).values()}
    return list(Submission.objects.filter(pk__in=ids).public().order_by("created_at", "pk"))


def pinned_baselines(version: BenchmarkVersion) -> list[Submission]:
    """The pinned baselines scored on ``version`` (failed and withdrawn ones are left out)."""
    found = Submission.objects.filter(version=version, baseline_pin__isnull=False).public()
    return list(found.select_related("baseline_pin").order_by("created_at", "pk"))


def reevaluation_origins(previous: BenchmarkVersion, *, as_of=None) -> list[Submission]:
    """The submissions of ``previous`` that a new version re-evaluates: entries and pinned baselines.

    ``as_of`` (the new version's publication) leaves out submissions made after it, so that a
    late catch-up re-evaluates what the publication would have.
    """
    chosen = {submission.pk: submission for submission in current_entries(previous, as_of=as_of)}
    for baseline in pinned_baselines(previous):
        chosen.setdefault(baseline.pk, baseline)
    found = sorted(chosen.values(), key=lambda submission: (submission.created_at, submission.pk))
    return [submission for submission in found if as_of is None or submission.created_at <= as_of]


def _reevaluation(origin: Submission, version: BenchmarkVersion, previous: BenchmarkVersion) -> Submission:
    return Submission(
        owner_id=origin.owner_id,
        version=version,
        model_name=origin.model_name,
        team=origin.team,
        description=origin.description,
        paper_url=origin.paper_url,
        code_url=origin.code_url,
        is_baseline=origin.is_baseline,
        # The stored file is shared: files in private storage are never changed or deleted.
        model_path=origin.model_path,
        model_format=origin.model_format,
        sha256=origin.sha256,
        size_bytes=origin.size_bytes,
        origin=Submission.Origin.REEVALUATION,
        reevaluation_of=origin,
        baseline_pin_id=origin.baseline_pin_id,
        counts_against_quota=False,
        progress_message=f"re-evaluation of #{origin.pk} from {previous}"[:200],
    )


def create_reevaluations(*, version: BenchmarkVersion, previous: BenchmarkVersion | None) -> list[int]:
    """Queue (in the database) the re-evaluation of ``previous``'s entries on ``version``.

    Idempotent: the unique constraints on (version, re-evaluated submission) and (version,
    pinned baseline) make a second call, a redelivered signal or a call after a crash halfway
    add only what is missing. Returns the ids of the rows this call created.
    """
    if previous is None or previous.pk == version.pk or previous.benchmark_id != version.benchmark_id:
        return []
    if not version.is_open:
        return []
    origins = reevaluation_origins(previous, as_of=version.published_at)
    with transaction.atomic():
        before = set(
            Submission.objects.filter(version=version, reevaluation_of__isnull=False).values_list("pk", flat=True)
        )
        pinned = set(
            Submission.objects.filter(version=version, baseline_pin__isnull=False).values_list(
                "baseline_pin_id", flat=True
            )
        )
        # A pinned baseline already on the new version (added by ``add_baselines``) is not added twice.
        rows = [
            _reevaluation(origin, version, previous)
            for origin in origins
            if origin.baseline_pin_id is None or origin.baseline_pin_id not in pinned
        ]
        Submission.objects.bulk_create(rows, ignore_conflicts=True)
        after = Submission.objects.filter(version=version, reevaluation_of__isnull=False).values_list("pk", flat=True)
        return sorted(set(after) - before)


def versions_missing_reevaluations() -> list[tuple[BenchmarkVersion, BenchmarkVersion]]:
    """(open latest version, the version before it) of each benchmark whose entries were never re-evaluated.

    The publication's receiver runs once, after the commit: a process that stopped in between,
    or a site upgraded from a release that did not re-evaluate, leaves a new version without
    its re-evaluations. The sweep finds them here; ``create_reevaluations`` is idempotent.
    """
    found = []
    latest_open = BenchmarkVersion.objects.filter(status=BenchmarkVersion.Status.PUBLISHED, published_at__isnull=False)
    for version in latest_open.select_related("benchmark"):
        if version.benchmark.latest_version != version:
            continue
        if Submission.objects.filter(version=version, origin=Submission.Origin.REEVALUATION).exists():
            continue
        previous = (
            version.benchmark.versions.visible()
            .exclude(pk=version.pk)
            .filter(published_at__lt=version.published_at)
            .order_by("-published_at", "-id")
            .first()
        )
        if previous is not None and reevaluation_origins(previous, as_of=version.published_at):
            found.append((version, previous))
    return found


def reevaluations_pending(version: BenchmarkVersion) -> int:
    """Re-evaluations on ``version`` not finished yet (queued or running)."""
    return Submission.objects.filter(
        version=version,
        origin=Submission.Origin.REEVALUATION,
        status__in=[Submission.Status.QUEUED, Submission.Status.RUNNING],
    ).count()


def superseded_version(version: BenchmarkVersion) -> BenchmarkVersion | None:
    """The version whose entries were re-evaluated on ``version``, if any."""
    # Asked on every view of a version's page: one narrow query, and a second only if there is one.
    earlier = (
        Submission.objects.filter(version=version, reevaluation_of__isnull=False)
        .order_by("pk")
        .values_list("reevaluation_of__version_id", flat=True)
        .first()
    )
    return None if earlier is None else BenchmarkVersion.objects.select_related("benchmark").get(pk=earlier)
