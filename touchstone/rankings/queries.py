"""Reads of stored leaderboards.

Pages and the API do not call these directly: what a version shows goes through
``touchstone.rankings.disclosure``, which decides what an open version may show.
"""

from __future__ import annotations

from django.db.models import Count, QuerySet

from evaluation.parts import ladder_metric
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.rankings.models import LeaderboardEntry
from touchstone.submissions.models import Submission
from touchstone.submissions.teams import team_members

#: The summary columns of each entry, in the order the board shows them (``breakdowns.entry_summary``).
SUMMARY_COLUMNS = ("corrupted_accuracy", "mce", "adversarial_accuracy", "ece", "worst_slice", "latency_ms")


def leaderboard_entries(version: BenchmarkVersion) -> QuerySet[LeaderboardEntry]:
    """Stored entries in rank order; only still-public submissions."""
    return (
        LeaderboardEntry.objects.filter(version=version, submission__status=Submission.Status.SCORED)
        .select_related("submission", "submission__owner")
        .order_by("rank", "submission_id")
    )


def submission_counts(version: BenchmarkVersion) -> dict[str, int]:
    """Every submission each team made to the version, withdrawn and failed ones included."""
    rows = Submission.objects.filter(version=version, is_baseline=False).values("team").annotate(n=Count("pk"))
    return {row["team"]: row["n"] for row in rows}


def leaderboard_payload(version: BenchmarkVersion) -> dict:
    """The public leaderboard of a version, as served by the API and drawn by the page."""
    snapshot = getattr(version, "snapshot", None)
    counts = submission_counts(version)
    # The part of the board that is stored: in the seconds between a freeze and its final board,
    # the feedback board is served as what it is rather than under the final part's labels.
    part = snapshot.part if snapshot else ("final" if version.reveals_final_scores else "feedback")
    shown_metrics = version.report_metrics if part == "final" else [ladder_metric(version.primary_metric)]
    stored = list(leaderboard_entries(version))
    members = team_members(version.benchmark_id, {e.submission.team for e in stored if not e.submission.is_baseline})
    entries = []
    for entry in stored:
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
                "p_value_vs_next": entry.p_value_vs_next,
                "feedback_rank": entry.feedback_rank,
                "difference_to_leader": entry.difference_to_leader,
                "submission": submission.pk,
                "model_name": submission.model_name,
                "team": submission.team,
                "team_members": [] if submission.is_baseline else members.get(submission.team, []),
                "is_baseline": submission.is_baseline,
                "team_submissions": counts.get(submission.team, 0),
                "sha256": submission.sha256,
                # In column order: PostgreSQL's jsonb gives keys back in an order of its own.
                "metrics": {name: entry.metrics[name] for name in shown_metrics if name in entry.metrics},
                "summary": {name: (entry.summary or {}).get(name) for name in SUMMARY_COLUMNS},
            }
        )
    return {
        "benchmark": version.benchmark.slug,
        "version": version.version,
        "status": version.status,
        "part": part,
        "primary_metric": shown_metrics[0] if part == "feedback" else version.primary_metric,
        "metrics": shown_metrics,
        "n_items": snapshot.n_items if snapshot else None,
        "n_feedback_items": snapshot.n_feedback_items if snapshot else None,
        "n_final_items": snapshot.n_final_items if snapshot else None,
        "minimum_detectable_effect": snapshot.minimum_detectable_effect if snapshot else None,
        "discordance_rate": snapshot.discordance_rate if snapshot else None,
        "n_resamples": snapshot.n_resamples if snapshot else None,
        "computed_at": snapshot.computed_at.isoformat() if snapshot else None,
        "entries": entries,
    }


def leaderboard_rows(payload: dict) -> list[dict]:
    """Flat rows (one per entry, one column per metric bound) for CSV downloads."""
    rows = []
    for entry in payload["entries"]:
        row = {
            key: entry.get(key)
            for key in (
                "rank",
                "rank_lower",
                "rank_upper",
                "tier",
                "feedback_rank",
                "submission",
                "model_name",
                "team",
                "is_baseline",
                "team_submissions",
                "sha256",
            )
        }
        row["team_members"] = ", ".join(entry.get("team_members") or [])
        for name in payload["metrics"]:
            interval = entry["metrics"].get(name, {})
            for bound in ("value", "ci_low", "ci_high"):
                row[f"{name}_{bound}"] = interval.get(bound)
        for name in SUMMARY_COLUMNS:
            shown = entry.get("summary", {}).get(name) or {}
            for bound in ("value", "low", "high"):
                row[f"summary_{name}_{bound}"] = shown.get(bound)
        rows.append(row)
    return rows
