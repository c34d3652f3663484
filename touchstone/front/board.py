"""The public part of a leaderboard page: the board, its table's columns and cells, and its chart.

All of it is derived from ``disclosure.leaderboard``, which is the same for every viewer, so it
is cached under the board's fingerprint (``rankings/board_cache.py``) and rebuilt only when the
board changes; drawing the chart alone costs more than the rest of the page. What varies with
the viewer (maintainer links, the lifecycle panel, a team's own note) is never part of it.
"""

from __future__ import annotations

from collections.abc import Callable

from evaluation.metrics import METRICS
from touchstone.benchmarks.croissant import as_script, croissant, datasheet
from touchstone.benchmarks.history import superseded_by
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.benchmarks.public_diff import public_diff
from touchstone.front.charts import leaderboard_chart
from touchstone.front.summary import summary_columns, with_summary_cells
from touchstone.rankings.board_cache import board_fingerprint, cached_leaderboard, derived


def public_board(version: BenchmarkVersion) -> dict:
    """The context of the leaderboard page that every viewer shares."""
    fingerprint = board_fingerprint(version)
    context = derived(fingerprint, "page", lambda: board_context(cached_leaderboard(version, fingerprint)[0]))
    # The page's template caches its rendered table and chart under the same fingerprint.
    return {**context, "board_fingerprint": fingerprint}


def version_parts(version: BenchmarkVersion, absolute: Callable[[str], str]) -> dict:
    """The parts of the page that depend on the benchmark's visible versions alone: the list of
    versions, the one that supersedes this one, the diff from the one before, the datasheet and
    the Croissant record.

    Published versions are immutable, so these change only when a version is published, frozen
    or deprecated, or (for the Croissant record's absolute links) with the site's address; they
    are cached under exactly that.
    """
    versions = list(version.benchmark.versions.visible().order_by("-published_at"))
    state = [absolute("/"), version.pk, *(f"{found.pk}.{found.status}.{found.content_hash}" for found in versions)]

    def build() -> dict:
        return {
            "superseded_by": superseded_by(version),
            "diff": public_diff(version),
            "datasheet": datasheet(version),
            "croissant": as_script(croissant(version, absolute)),
        }

    return {"versions": versions, **derived(":".join(map(str, state)), "version-parts", build)}


def board_context(payload: dict) -> dict:
    metric_titles = {name: METRICS[name].title if name in METRICS else name for name in payload["metrics"]}
    columns = summary_columns(payload["entries"])
    # Every column a visitor may hide: all but the rank and the model, which name the row.
    chooser = [("feedback-rank", "Open-board rank"), ("difference-to-leader", "Δ to leader")]
    chooser = chooser if payload["part"] == "final" else []
    chooser += [("rank-set", "Rank set"), ("rank-interval", "Rank interval (marginal)"), ("tier", "Tier")]
    chooser += [("team", "Team"), *((f"metric-{name}", title) for name, title in metric_titles.items())]
    chooser += [(f"summary-{column['key']}", column["title"]) for column in columns]
    chooser += [("submissions", "Submissions")]
    return {
        "payload": payload,
        "summary_columns": columns,
        "chooser_columns": chooser,
        "entries": with_summary_cells(payload["entries"], columns),
        "metric_titles": metric_titles,
        "higher_is_better": {name: METRICS[name].higher_is_better for name in payload["metrics"] if name in METRICS},
        "chart": leaderboard_chart(payload) if payload["entries"] else "",
    }
