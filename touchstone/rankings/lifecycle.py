"""Freezing and deprecating versions on behalf of a maintainer.

Both check the acting user with ``touchstone.benchmarks.permissions`` (``None`` is the site
operator, for the management commands). Deprecating an open version freezes it first, so a
deprecated version always carries its final board (``BenchmarkVersion.reveals_final_scores``
holds for both) and its final part counts as public for later versions' reviews.
"""

from __future__ import annotations

from django.db import transaction

from evaluation.errors import SpecError
from evaluation.spec import load_benchmark
from evaluation.version_diff import revealed_item_ids
from touchstone.benchmarks import permissions
from touchstone.benchmarks.models import BenchmarkVersion, ImmutableVersionError
from touchstone.rankings.services import freeze_version


def freeze(*, version: BenchmarkVersion, user=None) -> None:
    """Freeze an open version (``freeze_version``) if ``user`` maintains its benchmark."""
    if user is not None:
        permissions.require(user, "freeze", version.benchmark)
    freeze_version(version=version)


def deprecate(*, version: BenchmarkVersion, user=None) -> BenchmarkVersion:
    """Mark an open or frozen version deprecated: readable, marked on its pages, closed for good."""
    if user is not None:
        permissions.require(user, "deprecate", version.benchmark)
    if version.status not in {BenchmarkVersion.Status.PUBLISHED, BenchmarkVersion.Status.FROZEN}:
        raise ImmutableVersionError(f"only an open or frozen version can be deprecated; {version} is {version.status}")
    if version.status == BenchmarkVersion.Status.PUBLISHED:
        freeze_version(version=version)
    with transaction.atomic():
        locked = BenchmarkVersion.objects.select_for_update().get(pk=version.pk)
        locked.deprecate()
    version.refresh_from_db()
    return version


def freeze_would_expose(version: BenchmarkVersion) -> dict[str, int]:
    """How many hidden items of each other version (drafts included) freezing ``version`` would reveal.

    A freeze publishes exact per-item results on the version's final part; the same items may
    be hidden in a later version, whose scores on them would then no longer be secret.
    """
    if version.status != BenchmarkVersion.Status.PUBLISHED:
        return {}
    try:
        revealed = revealed_item_ids(load_benchmark(version.folder))
    except SpecError:
        return {}
    counts = {}
    others = BenchmarkVersion.objects.filter(
        benchmark_id=version.benchmark_id, status__in=[BenchmarkVersion.Status.PUBLISHED, BenchmarkVersion.Status.DRAFT]
    ).exclude(pk=version.pk)
    for other in others:
        try:
            hidden = {str(item) for item in load_benchmark(other.folder).load_split("test").item_ids}
        except SpecError:
            continue
        shared = len(hidden & revealed)
        if shared:
            counts[str(other)] = shared
    return counts
