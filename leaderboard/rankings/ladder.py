"""The Ladder over a version's ledger: what each team is shown on the feedback part."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from evaluation.parts import ladder_losses, loss_to_metric
from evaluation.statistics import ladder_replay
from leaderboard.submissions.models import Submission


@dataclass(frozen=True)
class TeamStanding:
    """A team's standing on an open version's feedback leaderboard."""

    best: Submission
    """The submission the Ladder holds as the team's best."""
    released: float
    """The feedback score shown for the team, in the metric's own units, on the 1/sqrt(n) grid."""


def ladder_group(submission: Submission) -> str:
    """Whose Ladder a submission climbs: its team's, or its own for a pinned baseline."""
    return f"baseline:{submission.pk}" if submission.is_baseline else f"team:{submission.team}"


def replay_ladders(
    submissions: list[Submission], probabilities: list[np.ndarray], labels: np.ndarray, *, metric: str
) -> dict[str, TeamStanding]:
    """Run every team's Ladder over its submissions in the order they were scored.

    ``submissions`` must be in scoring order with ``probabilities`` restricted to the feedback
    part. Each submission's released value is recorded on its row (the ledger of what was
    shown); the result maps each group to its current standing.
    """
    by_group: dict[str, list[int]] = defaultdict(list)
    for index, submission in enumerate(submissions):
        by_group[ladder_group(submission)].append(index)
    standings = {}
    for group, indices in by_group.items():
        losses = [ladder_losses(probabilities[i], labels, metric) for i in indices]
        best = None
        for index, decision in zip(indices, ladder_replay(losses), strict=True):
            submission = submissions[index]
            released = loss_to_metric(metric, decision.released_value)
            if decision.new_best_is_candidate:
                best = submission
            if (submission.ladder_released, submission.ladder_improved) != (released, decision.improved):
                Submission.objects.filter(pk=submission.pk).update(
                    ladder_released=released, ladder_improved=decision.improved
                )
                submission.ladder_released, submission.ladder_improved = released, decision.improved
        standings[group] = TeamStanding(best=best, released=submissions[indices[-1]].ladder_released)
    return standings
