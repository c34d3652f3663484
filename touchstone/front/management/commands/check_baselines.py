"""Score the pinned baselines again under the current evaluator: ``check_baselines``."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from evaluation import EVALUATOR_VERSION
from touchstone.submissions.baseline_checks import baselines_due, check_baseline


class Command(BaseCommand):
    help = (
        "Run again every baseline whose recorded score came from another evaluator version, compare its "
        "per-item outcomes with the recorded ones (paired bootstrap interval of the change) and flag the "
        "changes beyond the interval to the maintainers. The periodic sweep does the same."
    )

    def handle(self, *args, **options) -> None:
        due = baselines_due()
        if not due:
            self.stdout.write(
                f"no scored baseline needs a check: each was scored or checked by evaluator {EVALUATOR_VERSION}"
            )
            return
        flagged = 0
        for pk in due:
            check = check_baseline(pk)
            if check is None:
                continue
            flagged += check.flagged
            verdict = "FLAGGED" if check.flagged else "unchanged"
            self.stdout.write(
                f"#{pk} {check.submission.model_name} on {check.submission.version}: {verdict}, {check.detail}"
            )
        self.stdout.write(f"checked {len(due)} baseline{'s' if len(due) != 1 else ''}, {flagged} flagged")
