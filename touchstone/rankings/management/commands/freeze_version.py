from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from touchstone.benchmarks.models import BenchmarkVersion, ImmutableVersionError
from touchstone.rankings.lifecycle import freeze_would_expose
from touchstone.rankings.services import freeze_version


class Command(BaseCommand):
    help = "Freeze a benchmark version: close it to submissions and reveal final-part scores and ranks."

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")
        parser.add_argument("version")

    def handle(self, *args, slug: str, version: str, **options) -> None:
        found = BenchmarkVersion.objects.filter(benchmark__slug=slug, version=version).first()
        if found is None:
            raise CommandError(f"no version {version!r} of benchmark {slug!r}")
        for other, count in freeze_would_expose(found).items():
            self.stdout.write(
                f"warning: freezing publishes results on {count} items that are hidden in {other}; "
                "scores on them in that version are no longer secret"
            )
        try:
            snapshot = freeze_version(version=found)
        except ImmutableVersionError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"froze {found}: {snapshot.n_entries} entries ranked on {snapshot.n_items} final items")
