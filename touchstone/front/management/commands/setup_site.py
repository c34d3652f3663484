"""Prepare a local site: publish the shipped benchmarks, pin and queue the baselines, create ``demo``.

The first run also creates the site's benchmark secret (``var/private/benchmark-secret``), from
which the generated benchmarks (``glyphs``) draw a hidden split no other site shares; later
runs reuse it, so the same folder is rebuilt and found already published.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from rest_framework.authtoken.models import Token

from catalog import SECRET_BUILDERS, SLUGS, build_benchmark
from catalog.baselines import train_baselines
from catalog.secret import SECRET_FILENAME, ensure_secret
from evaluation.spec import load_benchmark
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.benchmarks.services import publish_benchmark
from touchstone.submissions.models import Submission
from touchstone.submissions.pinning import add_pinned_baselines, pin_baseline
from touchstone.tasks import queue_background

BASELINE_OWNER = "touchstone"


def site_benchmark_secret() -> bytes:
    """The site's benchmark secret, created on first use under private storage (mode 0600)."""
    return ensure_secret(Path(settings.PRIVATE_STORAGE_ROOT) / SECRET_FILENAME)


class Command(BaseCommand):
    help = "Publish the shipped benchmarks, submit their baseline models and create the demo researcher."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--only", nargs="*", choices=sorted(SLUGS), help="only these benchmarks")
        parser.add_argument("--no-baselines", action="store_true", help="publish without training baselines")

    def handle(self, *args, only: list[str] | None, no_baselines: bool, **options) -> None:
        workspace = Path(settings.DATA_DIR) / "catalog"
        slugs = only or SLUGS
        secret = site_benchmark_secret() if any(slug in SECRET_BUILDERS for slug in slugs) else None
        for slug in slugs:
            # A generated benchmark's folder holds a hidden split that only this site can make,
            # so it is built under private storage, which is never served.
            folder = (
                Path(settings.PRIVATE_STORAGE_ROOT) / "catalog" / slug if slug in SECRET_BUILDERS else workspace / slug
            )
            build_benchmark(slug, folder, secret)
            version = self._published(folder)
            if not no_baselines:
                self._submit_baselines(version, workspace / "baselines" / slug)
        self._demo_researcher()

    def _published(self, folder: Path) -> BenchmarkVersion:
        loaded = load_benchmark(folder)
        version = BenchmarkVersion.objects.filter(content_hash=loaded.content_hash).first()
        if version is not None:
            self.stdout.write(f"{version} is already published")
            return version
        earlier = BenchmarkVersion.objects.filter(benchmark__slug=loaded.spec.slug, version=loaded.spec.version).first()
        if earlier is not None:
            # A site set up by an earlier release keeps what it published: versions never change,
            # and the shipped folder now has other content under the same version number.
            self.stdout.write(
                f"{earlier} is already published from an earlier build (content hash {earlier.content_hash[:12]}); "
                f"this release builds {loaded.content_hash[:12]}, which needs a new version number to be published"
            )
            return earlier
        version = publish_benchmark(folder=folder)
        self.stdout.write(f"published {version} ({version.n_test_items} hidden items)")
        return version

    def _submit_baselines(self, version: BenchmarkVersion, folder: Path) -> None:
        if Submission.objects.filter(version=version, is_baseline=True).exists():
            return
        owner, _ = get_user_model().objects.get_or_create(username=BASELINE_OWNER)
        folder.mkdir(parents=True, exist_ok=True)
        pins = []
        for baseline in train_baselines(version.folder, folder):
            # Pinned by the file's hash: every later version gets this very file.
            pins.append(
                pin_baseline(
                    benchmark=version.benchmark,
                    path=baseline.path,
                    name=baseline.name,
                    description=baseline.description,
                    recipe=baseline.recipe,
                    command=f"python -m catalog baselines {version.folder} OUTDIR",
                )
            )
        with transaction.atomic():
            for submission in add_pinned_baselines(version=version, pins=pins, owner=owner):
                self.stdout.write(
                    f"queued pinned baseline {submission.model_name!r} ({submission.sha256[:12]}) on {version}"
                )
            queue_background()

    def _demo_researcher(self) -> None:
        users = get_user_model()
        demo = users.objects.filter(username="demo").first()
        password_note = "unchanged (python manage.py changepassword demo to reset it)"
        if demo is None:
            password = secrets.token_urlsafe(9)
            demo = users.objects.create_user("demo", "demo@example.org", password)
            password_note = password
        token, _ = Token.objects.get_or_create(user=demo)
        self.stdout.write(
            f"\nDemo researcher\n  username:  demo\n  password:  {password_note}\n  API token: {token.key}\n"
        )
