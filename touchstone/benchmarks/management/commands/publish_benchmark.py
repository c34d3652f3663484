from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from evaluation.errors import SpecError
from touchstone.benchmarks.services import publish_benchmark


class Command(BaseCommand):
    help = "Validate a benchmark folder (benchmark.toml, dev.npz, test.npz) and publish it as a new version."

    def add_arguments(self, parser) -> None:
        parser.add_argument("folder", type=Path)

    def handle(self, *args, folder: Path, **options) -> None:
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder")
        try:
            version = publish_benchmark(folder=folder)
        except SpecError as error:
            raise CommandError(f"{folder}: {error}") from None
        self.stdout.write(f"published {version} ({version.n_test_items} hidden items, hash {version.content_hash})")
