"""Keeping a version's stored leaderboard current without holding a lock while computing it.

Whatever changes what a leaderboard is computed from (a result scored or withdrawn, a freeze)
increments the version's ``generation`` in its own transaction
(``VersionQuerySet.mark_leaderboard_stale``), and ``touchstone.tasks`` queues a recompute. A
recompute reads its inputs in one short transaction, computes outside any (``boards``), and
swaps the result in with a short transaction whose conditional UPDATE refuses a board computed
from older inputs than the stored one. Uploads and results are therefore never kept waiting by
a bootstrap, and a burst of results costs one or two recomputes: those queued behind the first
find the board already at the current generation and do nothing.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.rankings.boards import Board, BoardInputs, compute_board
from touchstone.rankings.breakdowns import entry_summary
from touchstone.rankings.finals import FinalChoices, read_final_choices
from touchstone.rankings.ladder import ladder_states
from touchstone.rankings.models import LadderRelease, LeaderboardEntry, LeaderboardSnapshot, PairComparison
from touchstone.submissions.models import EvaluationRun, Submission
from touchstone.submissions.runs import cancel_runs

logger = logging.getLogger(__name__)


def leaderboard_is_stale(*, version_id: int) -> bool:
    """Whether something changed since the stored leaderboard was computed."""
    generation = BenchmarkVersion.objects.filter(pk=version_id).values_list("generation", flat=True).get()
    computed = LeaderboardSnapshot.objects.filter(version_id=version_id).values_list("computed_generation", flat=True)
    stored = computed.first()
    # A version nothing ever changed has nothing to show: no board to compute yet.
    return generation > 0 if stored is None else stored < generation


def stale_version_ids() -> list[int]:
    """Versions whose stored leaderboard is behind what it is computed from, or missing."""
    never_computed = Q(snapshot__isnull=True, generation__gt=0)
    behind = Q(generation__gt=F("snapshot__computed_generation"))
    return list(BenchmarkVersion.objects.filter(never_computed | behind).order_by("pk").values_list("pk", flat=True))


def refresh_leaderboard(*, version_id: int) -> bool:
    """Recompute the version's leaderboard unless the stored one is current; True if it computed."""
    if not leaderboard_is_stale(version_id=version_id):
        return False
    recompute_leaderboard(version=BenchmarkVersion.objects.get(pk=version_id))
    return True


def recompute_leaderboard(*, version: BenchmarkVersion) -> LeaderboardSnapshot:
    """Compute the version's leaderboard now and store it unless a newer one is stored already.

    Returns the stored snapshot, which is a newer one when another recompute finished first
    with later inputs. Pages and the API only ever read what is stored.
    """
    inputs = read_board_inputs(version_id=version.pk)
    board = compute_board(inputs)
    for entry in board.entries:
        # Outside any transaction like the board itself: each summary reads outcome files.
        entry.summary = _summary_or_none(entry.submission, inputs.part)
    store_board(version_id=version.pk, board=board)
    return LeaderboardSnapshot.objects.get(version_id=version.pk)


def _summary_or_none(submission, part: str) -> dict | None:
    """The entry's summary columns; a breakdown that cannot be computed blanks them, never the board."""
    try:
        return entry_summary(submission, part)
    except Exception:
        logger.exception("the summary of submission %s on the %s part could not be computed", submission.pk, part)
        return None


def read_board_inputs(*, version_id: int) -> BoardInputs:
    """Everything a recompute needs from the database, read in one short transaction.

    The version (its generation) is read before the release log and the ledger. On PostgreSQL
    each statement sees what was committed when it started, so a result committed between the
    reads is in the ledger without being counted in the generation: the board then carries a
    generation older than its contents, and the result's own recompute runs anyway. The other
    order could store a board that misses a result yet claims its generation. A release
    appended after the log was read makes ``store_board`` refuse the board.
    """
    with transaction.atomic():
        version = BenchmarkVersion.objects.select_related("benchmark").get(pk=version_id)
        log = list(LadderRelease.objects.filter(version_id=version_id).order_by("sequence"))
        public = Submission.objects.filter(version_id=version_id).public()
        # In the order the results committed (``scored_sequence``), never the workers' clocks;
        # rows scored before the sequence existed come first, in their old order.
        submissions = list(public.order_by(F("scored_sequence").asc(nulls_first=True), "scored_at", "pk"))
        runs = EvaluationRun.objects.filter(submission__in=public, outcome="scored").exclude(outcomes_path="")
        # The latest scored run of each submission holds its outcomes (as Submission.scored_run).
        latest = {run.submission_id: run.outcomes_path for run in runs.order_by("attempt")}
        # A team's best stays its bar after a withdrawal: its outcomes are read from where they stay.
        hidden = {release.submission_id for release in ladder_states(log).values()} - {s.pk for s in submissions}
        hidden_runs = EvaluationRun.objects.filter(submission_id__in=hidden, outcome="scored").exclude(outcomes_path="")
        withdrawn_bests = {run.submission_id: run.outcomes_path for run in hidden_runs.order_by("attempt")}
        part = "final" if version.reveals_final_scores else "feedback"
        pairs = PairComparison.objects.filter(version_id=version_id, part=part).values_list("a_id", "b_id")
        return BoardInputs(
            version=version,
            generation=version.generation,
            ledger=[(submission, latest[submission.pk]) for submission in submissions if submission.pk in latest],
            stored_pairs=frozenset(pairs),
            final_choices=read_final_choices(version_id) if part == "final" else FinalChoices(),
            log=log,
            withdrawn_bests=withdrawn_bests,
        )


class _LogMoved(Exception):
    """Releases were appended after the board's inputs were read."""


def store_board(*, version_id: int, board: Board) -> bool:
    """Swap a computed board in, unless the stored one was computed from newer inputs.

    One short transaction; the conditional UPDATE of the snapshot decides. A board computed
    from the same generation as the stored one replaces it (same inputs, same numbers). An open
    version's board also appends its releases to the log, and is refused if another recompute
    appended any since this one read the log: its releases continued an older state. (Two that
    append at once collide on the log's unique sequence, and the second is refused.) A refused
    board leaves the version stale, so the recompute task queues another. Returns whether the
    board was stored.
    """
    fields = {**board.snapshot, "computed_generation": board.generation, "computed_at": timezone.now()}
    part = board.snapshot["part"]
    try:
        with transaction.atomic():
            if (
                part == "feedback"
                and LadderRelease.objects.filter(version_id=version_id, sequence__gt=board.log_position).exists()
            ):
                raise _LogMoved
            not_newer = LeaderboardSnapshot.objects.filter(
                version_id=version_id, computed_generation__lte=board.generation
            )
            if not not_newer.update(**fields):
                if LeaderboardSnapshot.objects.filter(version_id=version_id).exists():
                    return False
                try:
                    with transaction.atomic():
                        LeaderboardSnapshot.objects.create(version_id=version_id, **fields)
                except IntegrityError:
                    # Another recompute stored the version's first board meanwhile; ours replaces
                    # it only if it is not older.
                    if not not_newer.update(**fields):
                        return False
            LadderRelease.objects.bulk_create(board.releases)
            LeaderboardEntry.objects.filter(version_id=version_id).delete()
            LeaderboardEntry.objects.bulk_create(board.entries)
            PairComparison.objects.bulk_create(
                [
                    PairComparison(version_id=version_id, part=part, a_id=a, b_id=b, result=result)
                    for a, b, result in board.comparisons
                ],
                ignore_conflicts=True,
            )
    except (_LogMoved, IntegrityError):
        return False
    return True


def freeze_version(*, version: BenchmarkVersion) -> LeaderboardSnapshot:
    """Close a version to submissions and publish its final-part leaderboard.

    The open board is first brought up to date, so that the feedback rank each team's frozen
    entry carries is its rank on the open board at the freeze. The freeze then commits, in a
    short transaction with the version's row locked (an upload, a withdrawal, a change of final
    submissions and the recording of a result check the status under the same lock). The
    evaluations still queued or running are then cancelled (``runs.cancel_runs``: failed with
    ``version_frozen``, not counted against the quota), so nothing scored after the freeze
    enters the final board, which is computed like any recompute, here and now so that the
    caller can report it.
    """
    refresh_leaderboard(version_id=version.pk)
    with transaction.atomic():
        locked = BenchmarkVersion.objects.select_for_update().get(pk=version.pk)
        locked.freeze()
        BenchmarkVersion.objects.filter(pk=locked.pk).mark_leaderboard_stale()
    # The freeze does not wait for evaluations in flight: they are cancelled. A run that
    # finishes between the two transactions finds the version frozen under its lock and
    # cancels itself; one cancelled here is fenced out, so nothing it writes later counts.
    cancel_runs(version_id=locked.pk)
    snapshot = recompute_leaderboard(version=locked)
    version.refresh_from_db()
    return snapshot
