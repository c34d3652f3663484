"""Celery task that keeps a version's stored leaderboard current."""

from __future__ import annotations

from celery import shared_task

from touchstone.rankings.services import leaderboard_is_stale, refresh_leaderboard


@shared_task(name="touchstone.rankings.tasks.recompute_leaderboard", acks_late=True)
def recompute_leaderboard_task(version_id: int) -> bool:
    """Recompute unless the stored board is current; True if a board was computed.

    Every change queues one of these, so a burst of results queues many: the first computes
    from everything recorded so far and the rest find the board current and return at once.
    """
    computed = refresh_leaderboard(version_id=version_id)
    if leaderboard_is_stale(version_id=version_id):
        # Results arrived while this one computed. Their own recomputes were queued with them;
        # one more costs a single read if those have caught up already, and keeps the stored
        # board from staying behind if one of their messages was lost.
        recompute_leaderboard_task.delay(version_id)
    return computed
