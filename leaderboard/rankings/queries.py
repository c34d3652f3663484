"""Reads of stored leaderboards shared by the pages and the API."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from leaderboard.benchmarks.models import BenchmarkVersion
from leaderboard.rankings.models import LeaderboardEntry
from leaderboard.submissions.models import Submission


def leaderboard_entries(version: BenchmarkVersion) -> QuerySet[LeaderboardEntry]:
    """Stored entries in rank order; only still-public submissions."""
    return (
        LeaderboardEntry.objects.filter(version=version, submission__status=Submission.Status.SCORED)
        .select_related("submission", "submission__owner")
        .order_by("rank", "submission_id")
    )


def submission_counts(version: BenchmarkVersion) -> dict[str, int]:
    """Every submission each team made to the version, withdrawn and failed ones included."""
    rows = (
        Submission.objects.filter(version=version, is_baseline=False)
        .values("team")
        .annotate(n=Count("pk"))
    )
    return {row["team"]: row["n"] for row in rows}


def leaderboard_payload(version: BenchmarkVersion) -> dict:
    """The public leaderboard of a version, as served by the API and drawn by the page."""
    snapshot = getattr(version, "snapshot", None)
    counts = submission_counts(version)
    entries = []
    for entry in leaderboard_entries(version):
        submission = entry.submission
        entries.append(
            {
                "rank": entry.rank,
                "rank_lower": entry.rank_lower,
                "rank_upper": entry.rank_upper,
                "rank_lower_simultaneous": entry.rank_lower_simultaneous,
                "rank_upper_simultaneous": entry.rank_upper_simultaneous,
                "tier": entry.tier,
                "p_value_vs_leader": entry.p_value_vs_leader,
                "submission": submission.pk,
                "model_name": submission.model_name,
                "team": submission.team,
                "is_baseline": submission.is_baseline,
                "team_submissions": counts.get(submission.team, 0),
                "sha256": submission.sha256,
                "metrics": entry.metrics,
            }
        )
    return {
        "benchmark": version.benchmark.slug,
        "version": version.version,
        "primary_metric": version.primary_metric,
        "metrics": version.report_metrics,
        "n_items": snapshot.n_items if snapshot else version.n_test_items,
        "n_resamples": snapshot.n_resamples if snapshot else None,
        "computed_at": snapshot.computed_at.isoformat() if snapshot else None,
        "entries": entries,
    }


def leaderboard_rows(payload: dict) -> list[dict]:
    """Flat rows (one per entry, one column per metric bound) for CSV downloads."""
    rows = []
    for entry in payload["entries"]:
        row = {key: entry[key] for key in ("rank", "rank_lower", "rank_upper", "tier", "submission", "model_name",
                                           "team", "is_baseline", "team_submissions", "sha256")}
        for name in payload["metrics"]:
            interval = entry["metrics"].get(name, {})
            for bound in ("value", "ci_low", "ci_high"):
                row[f"{name}_{bound}"] = interval.get(bound)
        rows.append(row)
    return rows
