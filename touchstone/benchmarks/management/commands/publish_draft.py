from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from touchstone.benchmarks.models import BenchmarkVersion, ImmutableVersionError
from touchstone.benchmarks.services import ReviewFailed, current_review, discard_draft, publish_draft


class Command(BaseCommand):
    help = (
        "Publish a stored draft after checking its review again (or discard it with --discard), as the site operator."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")
        parser.add_argument("version")
        parser.add_argument("--discard", action="store_true", help="delete the draft and its files instead")

    def handle(self, *args, slug: str, version: str, discard: bool, **options) -> None:
        draft = BenchmarkVersion.objects.filter(benchmark__slug=slug, version=version).first()
        if draft is None:
            raise CommandError(f"no version {version!r} of benchmark {slug!r}")
        try:
            if discard:
                discard_draft(version=draft)
                self.stdout.write(f"discarded the draft {draft}")
                return
            if draft.is_draft:
                self.stdout.write("\n".join(current_review(draft).lines()))
            publish_draft(version=draft)
        except (ReviewFailed, ImmutableVersionError) as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"published {draft} ({draft.n_test_items} hidden items, hash {draft.content_hash})")
