"""The Ladder over a version's release log: each team's state, continued for new submissions.

The log (``LadderRelease``) is the Ladder's memory. A recompute reads it, takes each team's
best submission (the one of its last improving release, even if it was withdrawn since: its
outcome file stays) and shown value from it, and runs the Ladder only over submissions scored
since, appending one release each. Nothing already in the log is decided again, so a
withdrawal can hide an entry but never lower a bar, release a held score or take back a
released one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from evaluation.parts import ladder_losses, loss_range, loss_to_metric
from evaluation.released import released_score
from evaluation.statistics import ladder_step
from touchstone.rankings.models import LadderRelease
from touchstone.submissions.models import Submission


def ladder_group(submission: Submission) -> str:
    """Whose Ladder a submission climbs: its team's, or its own for a pinned baseline."""
    return f"baseline:{submission.pk}" if submission.is_baseline else f"team:{submission.team}"


def ladder_states(log: Iterable[LadderRelease]) -> dict[str, LadderRelease]:
    """Each group's last improving release in ``log`` (in sequence order): its best and shown value."""
    states: dict[str, LadderRelease] = {}
    for release in log:
        if release.improved:
            states[release.group] = release
    return states


def continue_ladders(
    log: Sequence[LadderRelease],
    new: Sequence[Submission],
    probabilities_of: Callable[[int], np.ndarray],
    *,
    labels: np.ndarray,
    clusters: np.ndarray | None,
    metric: str,
) -> list[LadderRelease]:
    """The releases of ``new`` submissions (in scoring order), continuing the Ladder of ``log``.

    ``probabilities_of(submission_id)`` gives a submission's probabilities on the feedback
    part; it is asked for the new submissions and for each team's best. A released submission's
    row also holds the interval shown with its value (``released_score``, from its own
    outcomes). Returns unsaved rows numbered after the log's last sequence; the caller appends
    them, or nothing if the log moved meanwhile.
    """
    states = ladder_states(log)
    sequence = log[-1].sequence if log else 0
    bounds = loss_range(metric)
    n_items = int(labels.shape[0])
    cache: dict[int, np.ndarray] = {}

    def item_losses(submission_id: int) -> np.ndarray:
        if submission_id not in cache:
            cache[submission_id] = ladder_losses(probabilities_of(submission_id), labels, metric)
        return cache[submission_id]

    releases: list[LadderRelease] = []
    for submission in new:
        group = ladder_group(submission)
        state = states.get(group)
        decision = ladder_step(
            None if state is None else item_losses(state.submission_id),
            item_losses(submission.pk),
            None if state is None else loss_to_metric(metric, state.released),
            loss_range=bounds,
        )
        sequence += 1
        release = LadderRelease(
            version_id=submission.version_id,
            submission=submission,
            group=group,
            sequence=sequence,
            metric=metric,
            n_items=n_items,
            improved=decision.improved,
        )
        if decision.improved:
            shown = released_score(metric, item_losses(submission.pk), clusters)
            release.released, release.ci_low, release.ci_high = shown.value, shown.ci_low, shown.ci_high
            states[group] = release
        else:
            # A held submission records the team's shown value as it stands, bit for bit.
            release.released = states[group].released
        releases.append(release)
    return releases
