"""Remove orphan upload folders and stale temporary upload files (the periodic task does it hourly)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from touchstone.submissions.janitor import clean_orphan_uploads


class Command(BaseCommand):
    help = (
        "Remove model folders no submission points to and temporary upload files, once older than "
        "TOUCHSTONE_ORPHAN_UPLOAD_SECONDS (an hour by default); a file a submission points to is never removed."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--older-than",
            type=float,
            default=None,
            metavar="SECONDS",
            help=f"remove only what is at least this old (default {settings.ORPHAN_UPLOAD_SECONDS:.0f}); a small value "
            "can remove an upload still in progress, so use one only while the site is stopped",
        )

    def handle(self, *args, older_than: float | None = None, **options) -> None:
        removed = clean_orphan_uploads(older_than_seconds=older_than)
        for path in removed:
            self.stdout.write(f"removed {path}")
        self.stdout.write(f"{len(removed)} orphan upload item{'s' if len(removed) != 1 else ''} removed")
