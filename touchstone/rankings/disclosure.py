"""What a version shows about its hidden split: the one place that decides it.

Every view, serializer and download (the leaderboard in JSON and CSV, the full board and
submission exports, the benchmark page's progress chart, the version and home pages, a
submission's page and API record with its breakdowns, comparisons) takes its numbers from here.

**While a version is open, every number it shows is a function of released submissions
only.** A submission is released when the Ladder's log says it beat its team's bar
(``LadderRelease.improved``). The board shows one entry per team, its current release, with
the value, its interval, rank interval and tier, computed from released submissions alone
(``boards``); no p-value, since with ``n`` it would pin a pair's discordant counts. The owner
of a submission that was not released learns that it ran, whether it failed (under the error
rule of ``scoring``) and that it did not beat its team's bar: no score, no interval, no rank.
Comparisons are between entries of the open board only, with the difference of their released
values and an interval on the 1/n grid. ``docs/methods.md`` ("What each public number
reveals") counts what each of these can tell about the hidden split.

Once a version is frozen, its final-part numbers are shown exactly, as stored.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef

from evaluation.statistics import Interval
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.rankings.breakdowns import part_breakdowns
from touchstone.rankings.comparisons import comparison_part
from touchstone.rankings.ladder import ladder_states
from touchstone.rankings.models import LadderRelease
from touchstone.rankings.queries import leaderboard_payload
from touchstone.submissions.models import EvaluationRun, MetricResult, Submission


class ComparisonRefused(Exception):
    """Two submissions that may not be compared on this version; ``status`` is the HTTP status."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def shows_open_board(version: BenchmarkVersion) -> bool:
    """Whether the version's stored board is the open (feedback part) one.

    In the seconds between a freeze and its final board, the open board is still the stored
    one, and is shown under the open rule.
    """
    snapshot = getattr(version, "snapshot", None)
    if snapshot is not None:
        return bool(snapshot.part == "feedback")
    return not version.reveals_final_scores


def released_entries(version: BenchmarkVersion) -> dict[str, LadderRelease]:
    """Each team's current release (its last improving one), by Ladder group."""
    return ladder_states(LadderRelease.objects.filter(version=version).improving().order_by("sequence"))


def _current_ids(version: BenchmarkVersion) -> set[int]:
    return {release.submission_id for release in released_entries(version).values()}


def is_released(submission: Submission) -> bool:
    """Whether the Ladder released the submission: its row in the log says it beat the bar."""
    return LadderRelease.objects.filter(submission=submission, improved=True).exists()


def ladder_outcomes(submissions: list[Submission]) -> dict[int, bool]:
    """For their owner: whether each submission beat its team's bar (True) or was held (False).

    Submissions the log does not hold yet (not scored, or scored since the last recompute) are
    left out. This is the one bit a held submission tells its owner.
    """
    rows = LadderRelease.objects.filter(submission__in=submissions).values_list("submission_id", "improved")
    return dict(rows)


def leaderboard(version: BenchmarkVersion) -> dict:
    """The public leaderboard of a version, as the API serves it and the pages draw it."""
    payload = leaderboard_payload(version)
    if not shows_open_board(version):
        return payload
    current = _current_ids(version)
    entries = []
    for entry in payload["entries"]:
        # The stored open board holds released entries only; an entry the log does not hold as
        # its team's release (a board stored before the log existed) is not shown.
        if entry["submission"] in current:
            entries.append({**entry, "p_value_vs_leader": None, "p_value_vs_next": None, "difference_to_leader": None})
    return {**payload, "entries": entries}


def submission_scores(submission: Submission) -> dict:
    """What anyone who may see the submission is shown of its scores: part, metrics, Ladder.

    Frozen versions: every metric on the final part. Open versions: a released submission's
    value and interval as the Ladder released them; nothing for any other. A withdrawn
    submission that was scored keeps its scores (only its owner may see it).
    """
    version = submission.version
    # A withdrawn submission is shown to its owner alone, who keeps seeing what it was shown.
    was_scored = submission.status == Submission.Status.WITHDRAWN and submission.scored_at is not None
    if submission.status != Submission.Status.SCORED and not was_scored:
        return {"part": None, "metrics": {}, "ladder": None}
    release = LadderRelease.objects.filter(submission=submission).first()
    ladder = None
    if release is not None:
        ladder = {
            "metric": release.metric,
            "released": release.released if release.improved else None,
            "improved": release.improved,
        }
    if not shows_open_board(version):
        results = {
            result.metric: result for result in _clean_results(submission) if result.part == MetricResult.Part.FINAL
        }
        metrics = {
            name: Interval(r.value, r.ci_low, r.ci_high).to_dict()
            for name in version.report_metrics
            if (r := results.get(name))
        }
        return {"part": "final", "metrics": metrics, "ladder": ladder}
    metrics = {}
    if release is not None and release.improved and release.ci_low is not None and release.ci_high is not None:
        metrics = {release.metric: Interval(release.released, release.ci_low, release.ci_high).to_dict()}
    return {"part": "feedback", "metrics": metrics, "ladder": ladder}


def submission_breakdowns(submission: Submission) -> dict | None:
    """The per-class, per-slice, per-era and reliability breakdowns anyone may see, or None.

    The same rule as ``submission_scores``: frozen versions show every scored submission's
    breakdowns on the final part; open versions show a released submission's on the feedback
    part and nothing for any other (held, not ruled on yet, not scored). ``docs/methods.md``
    ("Breakdowns") counts what they reveal about the feedback part.
    """
    if submission.status != Submission.Status.SCORED:
        return None
    if not shows_open_board(submission.version):
        return part_breakdowns(submission, "final")
    if not is_released(submission):
        return None
    return part_breakdowns(submission, "feedback")


def submissions_with_breakdowns(version: BenchmarkVersion) -> list[Submission]:
    """The submissions of a version whose breakdowns ``submission_breakdowns`` shows, oldest first.

    The same rule, asked of the whole version at once (for the list a visitor overlays a second
    submission's charts from): scored submissions with a scored run's outcomes; while the
    version is open, only those the Ladder released.
    """
    with_outcomes = EvaluationRun.objects.filter(submission=OuterRef("pk"), outcome="scored").exclude(outcomes_path="")
    found = Submission.objects.filter(version=version).public().filter(Exists(with_outcomes))
    if shows_open_board(version):
        found = found.filter(pk__in=LadderRelease.objects.improving().values("submission_id"))
    return list(found.order_by("pk"))


def _clean_results(submission: Submission) -> list[MetricResult]:
    return [result for result in submission.metric_results.all() if result.condition == "clean"]


def submission_ranking(submission: Submission) -> dict | None:
    """The submission's place on the board, if it has one: rank, rank interval, tier.

    On an open board only teams' current releases have a place, and no p-value is shown.
    """
    entry = getattr(submission, "entry", None)
    if entry is None or submission.status != Submission.Status.SCORED:
        return None
    open_board = shows_open_board(submission.version)
    if open_board and submission.pk not in _current_ids(submission.version):
        return None
    return {
        "rank": entry.rank,
        "rank_lower": entry.rank_lower,
        "rank_upper": entry.rank_upper,
        "tier": entry.tier,
        "p_value_vs_leader": None if open_board else entry.p_value_vs_leader,
        "feedback_rank": None if open_board else entry.feedback_rank,
    }


def comparable_pair(version: BenchmarkVersion, a_id: int, b_id: int) -> tuple[Submission, Submission]:
    """The two submissions, if this version may show their comparison; else ``ComparisonRefused``.

    Frozen versions compare any two public scored submissions. Open versions compare two
    entries of the open board (teams' current releases) and nothing else: a comparison with a
    submission that was not released would reveal what the Ladder held back.
    """
    found = {
        submission.pk: submission
        for submission in Submission.objects.filter(pk__in=[a_id, b_id]).public().select_related("version")
    }
    for pk in (a_id, b_id):
        if pk not in found:
            raise ComparisonRefused(f"submission {pk} is not a public scored entry", status=404)
    if a_id == b_id:
        raise ComparisonRefused("pick two different entries to compare", status=400)
    for pk in (a_id, b_id):
        if found[pk].version_id != version.pk:
            raise ComparisonRefused(f"submission {pk} is not a scored entry of {version}", status=400)
    if shows_open_board(version):
        entries = _current_ids(version)
        for pk in (a_id, b_id):
            if pk not in entries:
                raise ComparisonRefused(
                    f"submission {pk} is not on the open leaderboard of {version}: while a version is open, "
                    "only the entries it shows (each team's released submission) can be compared",
                    status=400,
                )
    return found[a_id], found[b_id]


def shown_comparison(version: BenchmarkVersion, result: dict) -> dict:
    """A stored comparison as this version may show it.

    A comparison made on the feedback part carries no p-value and no discordant counts (they
    are never computed into it, see ``comparisons.pair_result``); one made on another part than
    the version's current one is not shown at all.
    """
    if result["part"] != comparison_part(version):
        raise ComparisonRefused("this comparison belongs to another part of the hidden split", status=400)
    if result["part"] == "feedback":
        return {**result, "p_value": None, "method": None, "a_only_correct": None, "b_only_correct": None}
    return result
