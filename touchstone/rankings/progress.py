"""Progress over time: the best disclosed score of each version of a benchmark, by date.

Built only from numbers the version already discloses (``disclosure``): on an open version, the
values and intervals the Ladder released, of submissions that are still public; on a frozen or
deprecated version, the final-part value and interval of every public scored submission. A
result is dated by its submission's upload. A *record* is a result better than every earlier
one of the same version; each version's records form a step line (``docs/methods.md``,
"Progress over time"). Versions are never pooled: their hidden splits differ, so a score on one
does not measure the same thing as a score on another.
"""

from __future__ import annotations

from evaluation.metrics import METRICS
from evaluation.parts import ladder_metric
from touchstone.benchmarks.history import version_history
from touchstone.benchmarks.models import Benchmark, BenchmarkVersion
from touchstone.rankings.disclosure import shows_open_board
from touchstone.rankings.models import LadderRelease
from touchstone.submissions.models import MetricResult, Submission


def _result(submission: Submission, value: float, low: float | None, high: float | None) -> dict:
    return {
        "date": submission.created_at,
        "submission": submission.pk,
        "model_name": submission.model_name,
        "team": submission.team,
        "is_baseline": submission.is_baseline,
        "value": value,
        "ci_low": low,
        "ci_high": high,
    }


def disclosed_results(version: BenchmarkVersion) -> tuple[str, str, list[dict]]:
    """(part, metric, results) of one version: each public result it discloses, oldest first."""
    if shows_open_board(version):
        releases = list(
            LadderRelease.objects.filter(version=version, submission__status=Submission.Status.SCORED)
            .improving()
            .select_related("submission")
        )
        results = [_result(r.submission, r.released, r.ci_low, r.ci_high) for r in releases]
        metric = releases[0].metric if releases else ladder_metric(version.primary_metric)
        part = "feedback"
    else:
        rows = MetricResult.objects.filter(
            submission__version=version,
            submission__status=Submission.Status.SCORED,
            part=MetricResult.Part.FINAL,
            condition="clean",
            metric=version.primary_metric,
        ).select_related("submission")
        results = [_result(r.submission, r.value, r.ci_low, r.ci_high) for r in rows]
        metric, part = version.primary_metric, "final"
    results.sort(key=lambda row: (row["date"], row["submission"]))
    return part, metric, results


def records(results: list[dict], *, higher_is_better: bool) -> list[dict]:
    """The results that beat every earlier one (ties do not count), in date order."""
    found: list[dict] = []
    for row in results:
        if not found or (row["value"] > found[-1]["value"] if higher_is_better else row["value"] < found[-1]["value"]):
            found.append(row)
    return found


def benchmark_progress(benchmark: Benchmark) -> dict:
    """Every visible version's records of its disclosed primary-metric scores, oldest version first."""
    versions = []
    for version in reversed(version_history(benchmark)):
        part, metric, results = disclosed_results(version)
        higher = METRICS[metric].higher_is_better if metric in METRICS else True
        versions.append(
            {
                "version": version.version,
                "status": version.status,
                "part": part,
                "metric": metric,
                "higher_is_better": higher,
                "published_at": version.published_at,
                "frozen_at": version.frozen_at,
                "n_results": len(results),
                "records": records(results, higher_is_better=higher),
            }
        )
    return {"benchmark": benchmark.slug, "title": benchmark.title, "versions": versions}
