"""Which submission stands for each team on a frozen board.

Before a version freezes, each team marks up to two of its scored submissions as final
(``touchstone.submissions.services.mark_final``); a team that marked none is represented by its
latest released submission. The frozen board then ranks one entry per team: the better of its
candidates on the final part, as Kaggle does, so that a team cannot win the final ranking by
having submitted many models, and the multiplicity corrections count teams, not attempts. Each
pinned baseline is its own entry. Identical prediction files count once, for whichever was
submitted first, so a copied model adds no second entry.

The rule is split in two: ``read_final_choices`` reads what it needs in the recompute's short
transaction, and ``choose_final_entries`` decides from what was read without touching the
database, like the rest of ``boards``.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from django.db.models import F

from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.rankings.ladder import ladder_group
from touchstone.rankings.models import LadderRelease, LeaderboardEntry, LeaderboardSnapshot
from touchstone.submissions.models import Submission, is_teammate

FinalChoice = Literal["marked", "default"]
"""Why a submission is among its team's final candidates: the team marked it, or marked none."""


@dataclass(frozen=True)
class FinalChoices:
    """What the frozen board's choice of entries depends on, read in one transaction."""

    marked: frozenset[int] = frozenset()
    """Submissions their teams marked final."""
    released: frozenset[int] = frozenset()
    """Submissions whose score the Ladder released (see ``released_submission_ids``)."""
    feedback_ranks: dict[str, int] = field(default_factory=dict)
    """Ladder group → its rank on the open board when the version froze."""


def released_submission_ids(version_id: int) -> frozenset[int]:
    """The version's submissions the Ladder released: each moved its team's shown value.

    The one definition of "released" that final selection uses (a team that marked nothing is
    represented by its latest released submission).
    """
    released = LadderRelease.objects.filter(version_id=version_id, improved=True)
    return frozenset(released.values_list("submission_id", flat=True))


def read_final_choices(version_id: int) -> FinalChoices:
    """The marks, the released submissions and the feedback ranks at the freeze, for a frozen board."""
    marked = Submission.objects.filter(version_id=version_id, final_marked_at__isnull=False).public()
    return FinalChoices(
        marked=frozenset(marked.values_list("pk", flat=True)),
        released=released_submission_ids(version_id),
        feedback_ranks=stored_feedback_ranks(version_id),
    )


def stored_feedback_ranks(version_id: int) -> dict[str, int]:
    """Each ladder group's rank on the open board as it stood when the version froze.

    Read from the stored board: the open board itself until the first frozen board replaces it,
    and from then on the ranks that board carried over, so they survive every later recompute.
    ``freeze_version`` brings the open board up to date just before it freezes.
    """
    part = LeaderboardSnapshot.objects.filter(version_id=version_id).values_list("part", flat=True).first()
    entries = LeaderboardEntry.objects.filter(version_id=version_id).select_related("submission")
    if part == "feedback":
        return {ladder_group(entry.submission): entry.rank for entry in entries}
    return {ladder_group(entry.submission): entry.feedback_rank for entry in entries if entry.feedback_rank is not None}


def final_candidates(submissions: Sequence[Submission], choices: FinalChoices) -> dict[str, list[int]]:
    """Ladder group → the indices in ``submissions`` its frozen-board entry is chosen from.

    ``submissions`` are the version's public scored submissions in scoring order. A team's
    candidates are the submissions it marked; if it marked none, its latest released one; if
    none of its released ones is still public, its latest scored one, so that a team with
    scored submissions always has an entry. A baseline is its own group and its own candidate.
    """
    groups: dict[str, list[int]] = defaultdict(list)
    for index, submission in enumerate(submissions):
        groups[ladder_group(submission)].append(index)
    candidates = {}
    for group, indices in groups.items():
        marked = [index for index in indices if submissions[index].pk in choices.marked]
        released = [index for index in indices if submissions[index].pk in choices.released]
        candidates[group] = marked or [(released or indices)[-1]]
    return candidates


def prediction_fingerprint(probabilities: np.ndarray) -> str:
    """SHA-256 of a stored probability array's dtype, shape and bytes: equal files, equal fingerprints."""
    array = np.ascontiguousarray(probabilities)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def choose_final_entries(
    submissions: Sequence[Submission],
    fingerprints: Sequence[str],
    scores: Sequence[float],
    choices: FinalChoices,
    *,
    higher_is_better: bool,
) -> list[int]:
    """Indices in ``submissions`` of the frozen board's entries, one per ladder group, in ledger order.

    ``fingerprints`` are the ``prediction_fingerprint`` of each submission's stored
    probabilities and ``scores`` its primary metric on the final part. Candidates whose
    predictions equal those of a candidate submitted earlier (by any team) are dropped first;
    each group's entry is then the better of its remaining candidates on ``scores``, the earlier
    one on a tie. A team all of whose candidates duplicate earlier ones has no entry of its own.
    """
    candidates = final_candidates(submissions, choices)
    pool = sorted(
        (index for indices in candidates.values() for index in indices),
        key=lambda index: (submissions[index].created_at, submissions[index].pk),
    )
    seen: set[str] = set()
    kept: set[int] = set()
    for index in pool:
        if fingerprints[index] not in seen:
            seen.add(fingerprints[index])
            kept.add(index)
    entries = []
    for indices in candidates.values():
        remaining = [index for index in indices if index in kept]
        if not remaining:
            continue
        best = remaining[0]
        for index in remaining[1:]:
            if scores[index] > scores[best] if higher_is_better else scores[index] < scores[best]:
                best = index
        entries.append(best)
    return sorted(entries)


def team_final_choices(version: BenchmarkVersion, team: str) -> dict[int, FinalChoice]:
    """The team's final candidates on the version right now: submission id → marked or default."""
    public = Submission.objects.filter(version=version, team=team, is_baseline=False).public()
    submissions = list(public.order_by(F("scored_sequence").asc(nulls_first=True), "scored_at", "pk"))
    ids = {submission.pk for submission in submissions}
    choices = FinalChoices(
        marked=frozenset(submission.pk for submission in submissions if submission.final_marked_at is not None),
        released=released_submission_ids(version.pk) & ids,
    )
    return {
        submissions[index].pk: "marked" if submissions[index].pk in choices.marked else "default"
        for indices in final_candidates(submissions, choices).values()
        for index in indices
    }


def final_choice(submission: Submission, viewer) -> FinalChoice | None:
    """Whether the submission is among its team's final candidates, as ``viewer`` may see it.

    While the version is open only the submission's team sees it (which submissions a team
    stakes its final rank on is the team's own business until the freeze); once frozen, anyone.
    Baselines, and submissions that are not scored, are never candidates.
    """
    return final_choices_of([submission], viewer).get(submission.pk)


def final_choices_of(submissions: Sequence[Submission], viewer) -> dict[int, FinalChoice]:
    """``final_choice`` of each submission (a researcher's list), with one read per version and team."""
    by_team: dict[tuple[int, str], dict[int, FinalChoice]] = {}
    shown: dict[int, FinalChoice] = {}
    for submission in submissions:
        version = submission.version
        may_see = version.reveals_final_scores or is_teammate(viewer, submission)
        if not may_see or submission.is_baseline or submission.status != Submission.Status.SCORED:
            continue
        key = (version.pk, submission.team)
        if key not in by_team:
            by_team[key] = team_final_choices(version, submission.team)
        if (choice := by_team[key].get(submission.pk)) is not None:
            shown[submission.pk] = choice
    return shown
