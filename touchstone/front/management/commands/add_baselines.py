"""Add a benchmark's pinned baselines to one of its versions: ``add_baselines SLUG VERSION``."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.front.management.commands.setup_site import BASELINE_OWNER
from touchstone.submissions.models import BaselinePin, Submission
from touchstone.submissions.pinning import PinMismatch, add_pinned_baselines, pin_baseline
from touchstone.tasks import queue_background


class Command(BaseCommand):
    help = (
        "Add the benchmark's pinned baselines to a version, as background submissions behind uploads. "
        "Each file is checked against its pinned SHA-256 first; a mismatch adds nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug", help="the benchmark, e.g. digits")
        parser.add_argument("version", help="the open version that gets the baselines, e.g. 1.1.0")
        parser.add_argument(
            "--from",
            dest="source",
            metavar="VERSION",
            help="only the baselines scored on this earlier version (default: every pin of the benchmark)",
        )
        parser.add_argument(
            "--files",
            type=Path,
            metavar="FOLDER",
            help="baseline files trained again by their recipes (python -m catalog baselines); each must "
            "have its pin's SHA-256, or nothing is added",
        )

        parser.add_argument(
            "--pin",
            dest="pin_file",
            type=Path,
            metavar="MODEL_FILE",
            help="pin this model file (TorchScript or torch.export) as a new baseline of the benchmark and add "
            "only it; needs --name, and --command to say how the file is trained again",
        )
        parser.add_argument("--name", help="with --pin: the model name shown on the leaderboard")
        parser.add_argument("--description", default="", help="with --pin: what the baseline is")
        parser.add_argument("--command", dest="recipe_command", default="", help="with --pin: the training command")

    def handle(
        self,
        *args,
        slug: str,
        version: str,
        source: str | None,
        files: Path | None,
        pin_file: Path | None,
        name: str | None,
        description: str,
        recipe_command: str,
        **options,
    ) -> None:
        target = _version(slug, version)
        pins = BaselinePin.objects.filter(benchmark=target.benchmark)
        if pin_file is not None:
            pins = pins.filter(pk=self._pin(target, pin_file, name, description, recipe_command).pk)
        if source is not None:
            earlier = _version(slug, source)
            scored = Submission.objects.filter(version=earlier, baseline_pin__isnull=False).public()
            pins = pins.filter(pk__in=scored.values("baseline_pin"))
        pins = list(pins.order_by("name", "created_at"))
        if not pins:
            where = f" scored on {slug} {source}" if source else ""
            raise CommandError(f"{slug} has no pinned baselines{where}; setup_site pins the shipped ones")
        offered = {}
        if files is not None:
            for pin in pins:
                candidate = files / str(pin.recipe.get("filename", ""))
                if pin.recipe.get("filename") and candidate.is_file():
                    offered[pin.pk] = candidate
        owner, _ = get_user_model().objects.get_or_create(username=BASELINE_OWNER)
        try:
            with transaction.atomic():
                added = add_pinned_baselines(version=target, pins=pins, owner=owner, offered=offered)
                queue_background()
        except PinMismatch as error:
            raise CommandError(str(error)) from None
        for submission in added:
            self.stdout.write(
                f"queued pinned baseline {submission.model_name!r} ({submission.sha256[:12]}) on {target}"
            )
        if not added:
            self.stdout.write(f"every pinned baseline is already on {target}")

    def _pin(self, target: BenchmarkVersion, path: Path, name: str | None, description: str, command: str):
        if not name:
            raise CommandError("--pin needs --name: the model name the baseline is listed under")
        if not path.is_file():
            raise CommandError(f"{path} is not a file; --pin takes a TorchScript or torch.export model file")
        try:
            pinned = pin_baseline(
                benchmark=target.benchmark,
                path=path,
                name=name,
                description=description,
                recipe={"filename": path.name, "pinned_from": str(path)},
                command=command,
            )
        except PinMismatch as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"pinned {pinned.name!r} for {target.benchmark} by sha256 {pinned.sha256}")
        return pinned


def _version(slug: str, number: str) -> BenchmarkVersion:
    found = BenchmarkVersion.objects.visible().filter(benchmark__slug=slug, version=number).first()
    if found is None:
        raise CommandError(f"there is no published version {number} of {slug!r}")
    return found
