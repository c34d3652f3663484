from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from touchstone.benchmarks.models import BenchmarkVersion, ImmutableVersionError
from touchstone.rankings.lifecycle import deprecate


class Command(BaseCommand):
    help = (
        "Deprecate a benchmark version: it stays readable, is marked deprecated on its pages and in the API, "
        "and takes no submissions. An open version is frozen first (its final board is published)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")
        parser.add_argument("version")

    def handle(self, *args, slug: str, version: str, **options) -> None:
        found = BenchmarkVersion.objects.filter(benchmark__slug=slug, version=version).first()
        if found is None:
            raise CommandError(f"no version {version!r} of benchmark {slug!r}")
        was = found.status
        try:
            deprecate(version=found)
        except ImmutableVersionError as error:
            raise CommandError(str(error)) from None
        frozen = " (frozen first: its final board is published)" if was == BenchmarkVersion.Status.PUBLISHED else ""
        self.stdout.write(f"deprecated {found}{frozen}")
