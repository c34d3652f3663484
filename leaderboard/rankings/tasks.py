"""Celery task that refreshes a version's stored leaderboard."""

from __future__ import annotations

from celery import shared_task

from leaderboard.benchmarks.models import BenchmarkVersion
from leaderboard.rankings.services import recompute_leaderboard


@shared_task(name="leaderboard.rankings.tasks.recompute_leaderboard", acks_late=True)
def recompute_leaderboard_task(version_id: int) -> int:
    version = BenchmarkVersion.objects.get(pk=version_id)
    return recompute_leaderboard(version=version).n_entries
