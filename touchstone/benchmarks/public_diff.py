"""What a published version changed from the one before it, as far as visitors may know.

The maintainers' review shows the whole diff (``evaluation.version_diff``). Visitors get the
spec changes, the dev split's changes item by item (both dev splits are public), and for the
hidden split counts only: an item id with its old or new label, or a hint of which dev items were
hidden before, would hand out labels of a split that is still scored. Items that now appear in
the dev split are listed together, whether new or formerly hidden, and items gone from it together,
whether removed or now hidden, because telling them apart would say which public items were
hidden in one version or the other.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import cache

from evaluation.spec import load_benchmark
from evaluation.version_diff import diff_versions
from touchstone.benchmarks.history import previous_version
from touchstone.benchmarks.models import BenchmarkVersion

_CACHE_SECONDS = 7 * 24 * 3600


def public_diff(version: BenchmarkVersion) -> dict[str, Any] | None:
    """The visitor's diff of ``version`` from the visible version before it; None for a first version.

    Both versions are immutable, so the result is cached under their content hashes.
    """
    previous = previous_version(version)
    if previous is None:
        return None
    key = f"public-diff:{previous.content_hash}:{version.content_hash}"
    found = cache.get(key)
    if found is None:
        found = _computed(previous, version)
        cache.set(key, found, timeout=_CACHE_SECONDS)
    return found


def _computed(previous: BenchmarkVersion, version: BenchmarkVersion) -> dict[str, Any]:
    old, new = load_benchmark(previous.folder), load_benchmark(version.folder)
    diff = diff_versions(old, new)
    dev, hidden = diff.splits["dev"], diff.splits["test"]
    moved_in = set(diff.test_to_dev)
    review = version.review or {}
    return {
        "benchmark": version.benchmark.slug,
        "version": version.version,
        "previous": previous.version,
        "changelog": version.changelog,
        "spec_changes": [{"path": c.path, "old": c.old, "new": c.new} for c in diff.spec_changes],
        "dev": {
            # New to the dev split, whether new items or items the previous version hid.
            "added": sorted({*dev.added, *moved_in}),
            # Gone from the dev split, whether removed or hidden now: telling them apart would say
            # which items of public labels the hidden split holds.
            "removed": sorted({*dev.removed, *diff.dev_to_test}),
            "relabelled": [
                {"item_id": r.item_id, "old": r.old, "new": r.new} for r in dev.relabelled if r.item_id not in moved_in
            ],
            "inputs_changed": [item for item in dev.inputs_changed if item not in moved_in],
            "n_items": version.n_dev_items,
        },
        "hidden": {
            "added": len(hidden.added),
            "removed": len(hidden.removed),
            "relabelled": len(hidden.relabelled),
            "inputs_changed": len(hidden.inputs_changed),
            "moved_to_dev": len(diff.test_to_dev),
            "exposed_moved_to_dev": len(review.get("moved_to_dev") or {}),
            "exposed_kept_hidden": len(review.get("kept_hidden") or {}),
            "n_items": version.n_test_items,
        },
        "file_hashes": {
            name: {"old": old_hash, "new": new_hash} for name, (old_hash, new_hash) in diff.file_hashes.items()
        },
    }
