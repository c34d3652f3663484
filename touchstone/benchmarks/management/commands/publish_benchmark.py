from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from evaluation.errors import SpecError
from touchstone.benchmarks import services
from touchstone.benchmarks.review import Review
from touchstone.benchmarks.services import ReviewFailed


class Command(BaseCommand):
    help = (
        "Validate a benchmark folder (benchmark.toml, dev.npz, test.npz), review it against the benchmark's "
        "previous version and publish it as a new version; --draft stores it for review on the site instead, "
        "--dry-run prints the review and writes nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("folder", type=Path)
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--draft", action="store_true", help="store a draft to review and publish on the site")
        mode.add_argument("--dry-run", action="store_true", help="print the review; write nothing")
        parser.add_argument(
            "--keep-exposed-hidden",
            action="store_true",
            help="keep hidden items that earlier versions made public in the hidden split (recorded in the "
            "review); by default they move to the dev split",
        )
        parser.add_argument(
            "--user",
            help="act as this maintainer (their permissions are checked); without it the command acts as "
            "the site operator",
        )

    def handle(self, *args, folder: Path, draft: bool, dry_run: bool, keep_exposed_hidden: bool, user, **options):
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder")
        if dry_run:
            review = services.dry_run(folder=folder, keep_exposed_hidden=keep_exposed_hidden)
            self.stdout.write("\n".join(review.lines()))
            if not review.ok:
                raise CommandError(f"{folder}: {review.refusal}")
            return
        actor = None
        if user is not None:
            actor = get_user_model().objects.filter(username=user).first()
            if actor is None:
                raise CommandError(f"no user {user!r}")
        try:
            if draft:
                version = services.create_draft(folder=folder, user=actor, keep_exposed_hidden=keep_exposed_hidden)
            elif actor is not None:
                raise CommandError("--user goes with --draft: a maintainer publishes a draft from its review page")
            else:
                version = services.publish_benchmark(folder=folder, keep_exposed_hidden=keep_exposed_hidden)
        except ReviewFailed as failure:
            self.stdout.write("\n".join(failure.review.lines()))
            raise CommandError(f"{folder}: {failure}") from None
        except (SpecError, PermissionDenied) as error:
            raise CommandError(f"{folder}: {error}") from None
        self.stdout.write("\n".join(Review.from_dict(version.review).lines()))
        if draft:
            self.stdout.write(
                f"stored the draft {version} (hash {version.content_hash}); review and publish it at "
                f"/benchmarks/{version.benchmark.slug}/{version.version}/review/"
            )
        else:
            self.stdout.write(f"published {version} ({version.n_test_items} hidden items, hash {version.content_hash})")
