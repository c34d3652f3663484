"""``manage.py check_sandbox``: run the sandbox's health probe now and store its outcome."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from touchstone.submissions.health import probe_and_record


class Command(BaseCommand):
    help = "Run a known-good model through the sandbox under the submissions' limits and record the outcome."

    def handle(self, *args, **options) -> None:
        health = probe_and_record()
        layers = ", ".join(health.layers) or "none"
        if not health.ok:
            raise CommandError(f"the sandbox failed its health check after {health.seconds:.1f} s: {health.problem}")
        self.stdout.write(f"the sandbox is healthy ({health.seconds:.1f} s; layers: {layers})")
