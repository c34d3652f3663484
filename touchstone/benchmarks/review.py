"""The review of a new benchmark version: what a maintainer reads before publishing it.

One function builds it for a folder about to become a draft (``review_folder``, also the dry
run) and one for a stored draft (``review_draft``, the review page and the last check before
publishing). Both check the same things: the folder validates; its content and version number
are new; every version after the first says what changed (``changelog``); the dev split and
the hidden split's feedback and final parts hold at least ``settings.MIN_PART_ITEMS`` items;
and no hidden item was made public by an earlier version (``evaluation.version_diff``), unless
the maintainer chose to keep such items hidden, which the review records.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from evaluation.errors import SpecError
from evaluation.spec import BenchmarkFolder, load_benchmark
from evaluation.version_diff import diff_versions, exposed_items, move_to_dev, part_sizes, size_problems
from touchstone.benchmarks.models import BenchmarkVersion


@dataclass
class Review:
    """Everything the review page and ``publish_benchmark --dry-run`` show; JSON-able via ``as_dict``."""

    slug: str = ""
    version: str = ""
    errors: list[str] = field(default_factory=list)
    """Validation errors: nothing else could be checked."""
    problems: list[str] = field(default_factory=list)
    """Failed checks; the version cannot be published while there is one."""
    warnings: list[str] = field(default_factory=list)
    previous: str = ""
    """The benchmark's latest visible version, which the diff is against ("" for a first version)."""
    changelog: str = ""
    diff: dict[str, Any] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    minimum: int = 0
    content_hash: str = ""
    source_content_hash: str = ""
    """The hash of the folder as given; differs from ``content_hash`` when items were moved."""
    moved_to_dev: dict[str, list[str]] = field(default_factory=dict)
    """Hidden items public in an earlier version, moved to the dev split, with the reasons."""
    kept_hidden: dict[str, list[str]] = field(default_factory=dict)
    """Hidden items public in an earlier version that the maintainer chose to keep hidden."""

    @property
    def ok(self) -> bool:
        return not self.errors and not self.problems

    @property
    def refusal(self) -> str:
        """Why the version cannot be published, in one message ("" when it can)."""
        return "; ".join(self.errors + self.problems)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Review:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)

    def lines(self) -> list[str]:
        """The review as plain text, for the command line."""
        out = [f"Review of {self.slug or '?'} {self.version or '?'}"]
        if self.errors:
            return [*out, "Validation: FAILED", *(f"  {error}" for error in self.errors)]
        out.append("Validation: passed")
        out.append(f"Content hash: {self.content_hash}")
        if self.source_content_hash != self.content_hash:
            out.append(f"  (the folder as given hashes to {self.source_content_hash}; items were moved to dev)")
        out.append(f"Previous version: {self.previous or 'none (first version)'}")
        out.append(f"Changelog: {self.changelog or '(empty)'}")
        if self.previous:
            changes = self.diff.get("spec_changes", [])
            out.append(f"Spec changes: {len(changes) or 'none'}")
            out += [f"  {c['path']}: {c['old']!r} -> {c['new']!r}" for c in changes]
            for name, split in self.diff.get("splits", {}).items():
                out.append(
                    f"{name} split: {len(split['added'])} added, {len(split['removed'])} removed, "
                    f"{len(split['relabelled'])} relabelled, {len(split['inputs_changed'])} with other inputs"
                )
                out += [f"  relabelled {r['item_id']}: {r['old']} -> {r['new']}" for r in split["relabelled"][:LISTED]]
            out.append(
                f"Moved between splits: {len(self.diff.get('dev_to_test', []))} dev -> test, "
                f"{len(self.diff.get('test_to_dev', []))} test -> dev"
            )
        for name, hashes in self.diff.get("file_hashes", {}).items():
            out.append(f"{name}: {hashes['old'] or '-'} -> {hashes['new']}")
        sizes = ", ".join(f"{part} {self.sizes[part]}" for part in self.sizes)
        out.append(f"Part sizes (minimum {self.minimum} each): {sizes}")
        if self.moved_to_dev:
            out.append(f"Exposed hidden items moved to the dev split: {len(self.moved_to_dev)}")
            out += _listed(self.moved_to_dev)
        if self.kept_hidden:
            out.append(f"Exposed hidden items kept hidden by the maintainer's choice: {len(self.kept_hidden)}")
            out += _listed(self.kept_hidden)
        out += [f"Warning: {warning}" for warning in self.warnings]
        out += [f"Problem: {problem}" for problem in self.problems]
        out.append("Checks: passed" if self.ok else "Checks: FAILED; this version cannot be published")
        return out


#: How many items the text review names in each list; the review page lists them all.
LISTED = 20


def _listed(items: dict[str, list[str]]) -> list[str]:
    shown = [f"  {item}: {'; '.join(why)}" for item, why in list(items.items())[:LISTED]]
    return shown + ([f"  ... and {len(items) - LISTED} more"] if len(items) > LISTED else [])


def earlier_versions(slug: str, *, exclude: BenchmarkVersion | None = None) -> list[BenchmarkVersion]:
    """The benchmark's visible versions, oldest first."""
    versions = BenchmarkVersion.objects.visible().filter(benchmark__slug=slug)
    if exclude is not None:
        versions = versions.exclude(pk=exclude.pk)
    return list(versions.order_by("published_at", "pk"))


def review_folder(
    folder: Path, *, workdir: Path, keep_exposed_hidden: bool = False, draft: BenchmarkVersion | None = None
) -> tuple[Review, BenchmarkFolder | None]:
    """Review ``folder`` as the next version of its benchmark; returns the review and the folder to store.

    Hidden items that earlier versions made public are moved to the dev split in a copy written
    under ``workdir`` (which the caller removes), unless ``keep_exposed_hidden``. ``draft`` is
    the stored draft being reviewed again, left out of the checks for duplicates. The folder is
    None when validation failed.
    """
    review = Review(minimum=settings.MIN_PART_ITEMS)
    try:
        loaded = load_benchmark(Path(folder))
    except SpecError as error:
        review.errors.append(str(error))
        return review, None
    spec = loaded.spec
    review.slug, review.version, review.changelog = spec.slug, spec.version, spec.changelog
    review.source_content_hash = loaded.content_hash
    earlier = earlier_versions(spec.slug)
    folders: dict[str, BenchmarkFolder] = {}
    for version in earlier:
        try:
            folders[str(version)] = load_benchmark(version.folder)
        except SpecError as error:
            review.problems.append(f"the stored files of {version} cannot be read ({error}); restore them first")
    frozen = {str(version) for version in earlier if version.frozen_at is not None}
    exposed = exposed_items(loaded, folders, frozen)
    if exposed and keep_exposed_hidden:
        review.kept_hidden = exposed
        review.warnings.append(
            f"{len(exposed)} hidden items were public in an earlier version and are kept hidden by the "
            "maintainer's choice: scores on them can have been fitted to them"
        )
    elif exposed:
        try:
            loaded = move_to_dev(loaded, exposed, Path(workdir) / "moved")
        except SpecError as error:
            review.problems.append(str(error))
        else:
            review.moved_to_dev = exposed
            review.warnings.append(
                f"{len(exposed)} hidden items were public in an earlier version and were moved to the dev "
                f"split; this changes the version's content hash from {review.source_content_hash[:12]} to "
                f"{loaded.content_hash[:12]}"
            )
    review.content_hash = loaded.content_hash
    review.problems += _open_items_made_public(loaded, earlier, folders, set(exposed))
    _check_identity(review, spec.slug, spec.version, loaded.content_hash, draft)
    previous = earlier[-1] if earlier else None
    if previous is not None:
        review.previous = str(previous)
        if not spec.changelog.strip():
            review.problems.append(
                f"benchmark.toml has an empty changelog; say what changed since {previous} (key 'changelog')"
            )
        elif spec.changelog.strip() == previous.changelog.strip():
            review.warnings.append(f"the changelog is the same as {previous}'s; say what changed in this version")
    diff = diff_versions(folders.get(str(previous)) if previous is not None else None, loaded)
    review.diff = diff.as_dict()
    review.sizes = part_sizes(loaded)
    review.problems += size_problems(review.sizes, review.minimum)
    return review, loaded


def _open_items_made_public(
    loaded: BenchmarkFolder,
    earlier: list[BenchmarkVersion],
    folders: dict[str, BenchmarkFolder],
    already_public: set[str],
) -> list[str]:
    """A problem for each open version whose hidden items this folder would publish in its dev split.

    Their labels would be public while that version still takes submissions and scores them;
    items an earlier freeze already made public are no news. Once the open version is frozen
    its final board is fixed, and the items may move.
    """
    new_dev = {str(item) for item in loaded.load_split("dev").item_ids}
    problems = []
    for version in earlier:
        if not version.is_open or str(version) not in folders:
            continue
        hidden = {str(item) for item in folders[str(version)].load_split("test").item_ids}
        revealed = sorted((hidden & new_dev) - already_public)
        if revealed:
            shown = ", ".join(revealed[:5]) + (f" and {len(revealed) - 5} more" if len(revealed) > 5 else "")
            problems.append(
                f"{len(revealed)} items hidden in {version}, which is open, are in this version's dev split "
                f"({shown}): publishing would reveal their labels while {version} still scores submissions "
                f"on them; freeze {version} first, or keep these items out of the dev split"
            )
    return problems


def _check_identity(review: Review, slug: str, number: str, content_hash: str, draft: BenchmarkVersion | None) -> None:
    others = BenchmarkVersion.objects.exclude(pk=draft.pk) if draft is not None else BenchmarkVersion.objects.all()
    same_content = others.filter(content_hash=content_hash).first()
    if same_content is not None:
        what = "a draft" if same_content.is_draft else "published"
        review.problems.append(f"this exact content is already {what} as {same_content} (hash {content_hash[:12]})")
    elif others.filter(benchmark__slug=slug, version=number).exists():
        review.problems.append(
            f"{slug} {number} is already published with different content; published versions are "
            "immutable, so give the changed folder a new version number"
        )


def review_draft(draft: BenchmarkVersion, *, workdir: Path) -> Review:
    """The review of a stored draft as it stands now.

    The draft's folder is checked again as it was stored (nothing is moved): an item made
    public after the draft was created (an earlier version frozen meanwhile) is a problem
    unless the maintainer had chosen to keep exposed items hidden, and the items the draft
    moved to dev are carried over from its stored review.
    """
    stored = Review.from_dict(draft.review or {})
    review, _ = review_folder(draft.folder, workdir=workdir, keep_exposed_hidden=True, draft=draft)
    newly = sorted(set(review.kept_hidden) - set(stored.kept_hidden))
    if newly:
        review.problems.append(
            f"{len(newly)} hidden items of this draft were made public after it was created (e.g. "
            f"{newly[0]}: {'; '.join(review.kept_hidden[newly[0]])}); discard it and create the draft again, "
            "which moves them to the dev split"
        )
    review.kept_hidden = {item: why for item, why in review.kept_hidden.items() if item in stored.kept_hidden}
    review.warnings = [w for w in review.warnings if "kept hidden by the maintainer's choice" not in w]
    if review.kept_hidden:
        review.warnings.append(
            f"{len(review.kept_hidden)} hidden items were public in an earlier version and are kept hidden by "
            "the maintainer's choice: scores on them can have been fitted to them"
        )
    review.moved_to_dev = stored.moved_to_dev
    review.source_content_hash = stored.source_content_hash or review.content_hash
    if review.moved_to_dev:
        review.warnings.append(
            f"{len(review.moved_to_dev)} hidden items were public in an earlier version and were moved to the "
            f"dev split when the draft was created; the folder as uploaded hashed to "
            f"{review.source_content_hash[:12]}, the draft is {review.content_hash[:12]}"
        )
    return review
