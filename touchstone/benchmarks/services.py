"""Publishing benchmark versions from folders: drafts, their review, publishing and discarding.

A new version starts as a draft: the folder is reviewed (``touchstone.benchmarks.review``),
copied into private storage (with hidden items that earlier versions made public moved to the
dev split, unless the maintainer chose otherwise) and stored with status ``draft``, which no
visitor and no public list sees. A maintainer reads the review and publishes it
(``publish_draft``, which checks the review again) or discards it. ``publish_benchmark`` does
both steps at once for the command line's default and for ``setup_site``.

Each function takes the acting ``user``; ``None`` is the site operator (management commands
without ``--user``), for whom no permission is checked.
"""

from __future__ import annotations

import tempfile
import tomllib
from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.db import transaction

from evaluation.errors import SpecError
from evaluation.perturbed import PerturbedSuite, suite_root
from evaluation.spec import load_benchmark
from touchstone.benchmarks import permissions
from touchstone.benchmarks.models import Benchmark, BenchmarkVersion, ImmutableVersionError
from touchstone.benchmarks.review import Review, review_draft, review_folder
from touchstone.storage import copy_folder_atomically, delete_folder, private_path, store_folder


class ReviewFailed(SpecError):
    """The folder or draft failed its review; ``review`` says everything that was checked."""

    def __init__(self, review: Review) -> None:
        super().__init__(review.refusal)
        self.review = review


def dry_run(*, folder: Path, keep_exposed_hidden: bool = False) -> Review:
    """The review a draft of ``folder`` would get; writes nothing to the database or storage."""
    with tempfile.TemporaryDirectory(prefix="touchstone-review-") as workdir:
        review, _ = review_folder(Path(folder), workdir=Path(workdir), keep_exposed_hidden=keep_exposed_hidden)
    return review


def create_draft(
    *, folder: Path, user=None, keep_exposed_hidden: bool = False, slug: str | None = None
) -> BenchmarkVersion:
    """Review ``folder`` and store it as a draft version; raises ``ReviewFailed`` when a check fails.

    A user creates drafts only of benchmarks they maintain; a new benchmark only staff (or the
    operator) can create. The corrupted copies of the hidden split that the spec's suite
    declares are generated into the private copy here, so publishing is instant. ``slug``,
    when given, is the benchmark the folder must belong to (the site's "new draft" page).
    """
    declared = _declared_slug(Path(folder))
    if slug is not None and declared is not None and declared != slug:
        raise SpecError(f"benchmark.toml says slug = {declared!r}; a draft of {slug} needs slug = {slug!r}")
    if user is not None and declared is not None:
        # Checked before the review, which would show a stranger the benchmark's earlier versions.
        benchmark = Benchmark.objects.filter(slug=declared).first()
        if benchmark is not None:
            permissions.require(user, "create_draft", benchmark)
        elif not (user.is_authenticated and user.is_active and user.is_staff):
            raise PermissionDenied(f"only staff may create the new benchmark {declared}")
    with tempfile.TemporaryDirectory(prefix="touchstone-review-") as workdir:
        review, loaded = review_folder(Path(folder), workdir=Path(workdir), keep_exposed_hidden=keep_exposed_hidden)
        if loaded is None or not review.ok:
            raise ReviewFailed(review)
        spec = loaded.spec
        relative = f"benchmarks/{spec.slug}/{spec.version}-{loaded.content_hash[:12]}"
        copy_folder_atomically(loaded.path, relative)
    raw_spec = tomllib.loads((private_path(relative) / "benchmark.toml").read_text(encoding="utf-8"))
    try:
        stored = load_benchmark(private_path(relative))
        if stored.content_hash != loaded.content_hash:
            raise SpecError(f"the copy in private storage hashes to {stored.content_hash[:12]}; try again")
        if spec.perturbations:
            # The corrupted copies of the hidden split are made once, here, from seeds derived from
            # the content hash, and every evaluation reads them back against their checksums.
            PerturbedSuite.ensure(suite_root(private_path(relative)), stored, "test")
        # With a bucket, every machine reads the folder from there: it is sent before the row exists.
        store_folder(relative)
        with transaction.atomic():
            benchmark, _ = Benchmark.objects.get_or_create(
                slug=spec.slug, defaults={"title": spec.title, "description": spec.description}
            )
            return BenchmarkVersion.objects.create(
                benchmark=benchmark,
                version=spec.version,
                title=spec.title,
                description=spec.description,
                spec=raw_spec,
                content_hash=stored.content_hash,
                file_hashes=dict(stored.file_hashes),
                changelog=spec.changelog,
                storage_path=relative,
                n_dev_items=int(stored.load_split("dev").labels.shape[0]),
                n_test_items=int(stored.load_split("test").labels.shape[0]),
                created_by=user if user is not None and user.is_authenticated else None,
                review=review.as_dict(),
            )
    except BaseException:
        delete_folder(relative)
        raise


def _declared_slug(folder: Path) -> str | None:
    """The slug ``benchmark.toml`` declares, or None when it cannot be read (the review says why)."""
    try:
        slug = tomllib.loads((folder / "benchmark.toml").read_text(encoding="utf-8")).get("slug")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    return slug if isinstance(slug, str) else None


def current_review(version: BenchmarkVersion) -> Review:
    """The review of a stored draft as it stands now (what the review page shows)."""
    with tempfile.TemporaryDirectory(prefix="touchstone-review-") as workdir:
        return review_draft(version, workdir=Path(workdir))


def publish_draft(*, version: BenchmarkVersion, user=None) -> BenchmarkVersion:
    """Publish a draft after checking its review again; raises ``ReviewFailed`` if a check fails now.

    ``BenchmarkVersion.publish`` sends ``version_published`` once the transaction commits.
    """
    if user is not None:
        permissions.require(user, "publish", version.benchmark)
    review = current_review(version)
    if not review.ok:
        raise ReviewFailed(review)
    with transaction.atomic():
        locked = BenchmarkVersion.objects.select_for_update().select_related("benchmark").get(pk=version.pk)
        if not locked.is_draft:
            raise ImmutableVersionError(f"{locked} is already {locked.status}")
        locked.publish()
        # The benchmark's title and description follow its newest version.
        benchmark = locked.benchmark
        benchmark.title, benchmark.description = locked.title, locked.description
        benchmark.save(update_fields=["title", "description"])
    version.refresh_from_db()
    return version


def discard_draft(*, version: BenchmarkVersion, user=None) -> None:
    """Delete a draft and its stored files; published versions are never deleted."""
    if user is not None:
        permissions.require(user, "discard_draft", version.benchmark)
    with transaction.atomic():
        locked = BenchmarkVersion.objects.select_for_update().get(pk=version.pk)
        if not locked.is_draft:
            raise ImmutableVersionError(f"{locked} is {locked.status}; only a draft can be discarded")
        relative = locked.storage_path
        locked.delete()
        transaction.on_commit(lambda: delete_folder(relative))


def publish_benchmark(*, folder: Path, keep_exposed_hidden: bool = False) -> BenchmarkVersion:
    """Review ``folder``, store it as a draft and publish it at once, as the site operator.

    Raises ``SpecError`` (a ``ReviewFailed``, naming every failed check) for a malformed folder,
    content or a version number already published, an empty changelog after the first
    version, or a part below the minimum size; nothing is stored then.
    """
    draft = create_draft(folder=folder, keep_exposed_hidden=keep_exposed_hidden)
    try:
        return publish_draft(version=draft)
    except BaseException:
        discard_draft(version=draft)
        raise
