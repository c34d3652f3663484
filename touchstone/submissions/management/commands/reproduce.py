"""``manage.py reproduce RUN_ID``: run a scored run again and say whether it matches bit for bit.

Exit status 0 when everything matches, 1 when something differs (the report says what), 2 when
the run cannot be reproduced at all (unknown id, never scored, its files gone).
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluation.reproduction import Reproduction
from touchstone.submissions.reproduction import CannotReproduce, reproduce_run


class Command(BaseCommand):
    help = (
        "Re-run a scored evaluation run in the sandbox with its recorded settings and compare predictions, "
        "metrics, intervals and the robustness suite with what was stored; writes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("run_id", type=int, help="The id of the evaluation run (EvaluationRun) to reproduce.")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, **options) -> None:
        quiet = options["json"] or options["verbosity"] < 2

        def progress(fraction: float, message: str) -> None:
            if not quiet:
                self.stderr.write(f"{fraction:4.0%} {message}")

        try:
            reproduction = reproduce_run(options["run_id"], progress=progress)
        except CannotReproduce as refusal:
            raise CommandError(f"cannot reproduce: {refusal}", returncode=2) from None
        if options["json"]:
            self.stdout.write(json.dumps(reproduction.to_dict(), indent=2, ensure_ascii=False))
        else:
            self.stdout.write(_text(reproduction))
        if not reproduction.matches:
            differing = ", ".join(check.name for check in reproduction.differences) or "nothing was compared"
            raise CommandError(f"the reproduction differs from the run: {differing}", returncode=1)


def _text(reproduction: Reproduction) -> str:
    run = reproduction.run
    verdict = "reproduced bit for bit" if reproduction.matches else "DIFFERS"
    lines = [
        f"Run {run['run']} (attempt {run['attempt']} of submission #{run['submission']} {run['model_name']!r}, "
        f"{run['benchmark']} {run['version']}, {run['split']} split): {verdict}"
    ]
    for check in reproduction.checks:
        lines.append(f"  {'match' if check.matches else 'DIFFERS':8}{check.name}: {check.detail}")
    if reproduction.changes:
        lines.append("Since the run:")
        lines.extend(f"  {change}" for change in reproduction.changes)
    else:
        lines.append("Since the run: the same evaluator, packages and platform.")
    return "\n".join(lines)
