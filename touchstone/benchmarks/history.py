"""A benchmark's visible versions in publication order: which came before and which came after.

A version is *superseded* once a later version of the same benchmark is published; it stays
readable (its scores keep their meaning), and its page names the version that replaced it.
Drafts are never part of the history.
"""

from __future__ import annotations

from touchstone.benchmarks.models import Benchmark, BenchmarkVersion


def version_history(benchmark: Benchmark) -> list[BenchmarkVersion]:
    """The benchmark's visible versions, newest first (by publication time, then by id)."""
    return list(benchmark.versions.visible().order_by("-published_at", "-id"))


def _neighbours(version: BenchmarkVersion) -> tuple[BenchmarkVersion | None, BenchmarkVersion | None]:
    history = version_history(version.benchmark)
    ids = [found.pk for found in history]
    if version.pk not in ids:
        return None, None
    position = ids.index(version.pk)
    newer = history[position - 1] if position > 0 else None
    older = history[position + 1] if position + 1 < len(history) else None
    return older, newer


def superseded_by(version: BenchmarkVersion) -> BenchmarkVersion | None:
    """The visible version published right after ``version``, or None while it is the newest."""
    return _neighbours(version)[1]


def previous_version(version: BenchmarkVersion) -> BenchmarkVersion | None:
    """The visible version published right before ``version``, or None for the first one."""
    return _neighbours(version)[0]
