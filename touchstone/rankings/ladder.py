"""The Ladder over a version's ledger: what each team is shown on the feedback part."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from evaluation.parts import ladder_losses, loss_to_metric
from evaluation.statistics import ladder_replay
from touchstone.submissions.models import Submission


@dataclass(frozen=True)
class TeamStanding:
    """A team's standing on an open version's feedback leaderboard."""

    best: Submission
    """The submission the Ladder holds as the team's best."""
    released: float
    """The feedback score shown for the team, in the metric's own units, on the 1/sqrt(n) grid."""


@dataclass(frozen=True)
class Release:
    """What the Ladder released when one submission was scored."""

    released: float
    """The team's shown score after this submission, in the metric's own units."""
    improved: bool
    """Whether this submission moved the team's shown score."""


@dataclass(frozen=True)
class LadderReplay:
    """Every team's standing and every submission's release, from one replay of the ledger."""

    standings: dict[str, TeamStanding]
    releases: dict[int, Release]
    """Submission id → its release; stored on the submission's row as the record of what was shown."""


def ladder_group(submission: Submission) -> str:
    """Whose Ladder a submission climbs: its team's, or its own for a pinned baseline."""
    return f"baseline:{submission.pk}" if submission.is_baseline else f"team:{submission.team}"


def replay_ladders(
    submissions: list[Submission], probabilities: list[np.ndarray], labels: np.ndarray, *, metric: str
) -> LadderReplay:
    """Run every team's Ladder over its submissions in the order they were scored.

    ``submissions`` must be in scoring order with ``probabilities`` restricted to the feedback
    part. Nothing is written: the caller stores the releases together with the leaderboard.
    """
    by_group: dict[str, list[int]] = defaultdict(list)
    for index, submission in enumerate(submissions):
        by_group[ladder_group(submission)].append(index)
    standings: dict[str, TeamStanding] = {}
    releases: dict[int, Release] = {}
    for group, indices in by_group.items():
        losses = [ladder_losses(probabilities[i], labels, metric) for i in indices]
        best = submissions[indices[0]]
        for index, decision in zip(indices, ladder_replay(losses), strict=True):
            submission = submissions[index]
            releases[submission.pk] = Release(loss_to_metric(metric, decision.released_value), decision.improved)
            if decision.new_best_is_candidate:
                best = submission
        standings[group] = TeamStanding(best=best, released=releases[submissions[indices[-1]].pk].released)
    return LadderReplay(standings=standings, releases=releases)
