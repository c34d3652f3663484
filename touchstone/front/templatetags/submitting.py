"""Why a version's pages offer no upload form, and where to submit instead."""

from __future__ import annotations

from django import template

from touchstone.benchmarks.models import BenchmarkVersion

register = template.Library()


def open_version_besides(version: BenchmarkVersion) -> BenchmarkVersion | None:
    """The benchmark's newest version that takes submissions, other than ``version`` itself."""
    candidates = version.benchmark.versions.filter(status=BenchmarkVersion.Status.PUBLISHED).exclude(pk=version.pk)
    return candidates.order_by("-published_at", "-id").first()


@register.inclusion_tag("front/_closed_for_submissions.html")
def closed_for_submissions(version: BenchmarkVersion) -> dict:
    """A note saying that a frozen or deprecated version takes no uploads, linking the open one if any."""
    return {"version": version, "open_version": open_version_besides(version)}
