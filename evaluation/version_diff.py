"""What changes between two versions of a benchmark, and which hidden items are no longer secret.

A maintainer publishes a new version from a folder; before it goes live the site shows what the
folder changes against the benchmark's previous version (``diff_versions``), how many items each
part holds (``part_sizes``, checked against a minimum by ``size_problems``) and which of its
hidden items earlier versions already made public (``exposed_items``). The default is to move
those to the public dev split (``move_to_dev``), which writes a new folder and so gives the
version another content hash.

Which items a version made public:

- its dev split, always (it is downloadable);
- once it is frozen (deprecated versions are frozen first), the final part of its hidden split
  (``revealed_item_ids``): a frozen version shows every entry's exact scores and breakdowns on
  that part and exact paired comparisons with discordant counts, so two entries that differ on
  one item tell that item's label.

The feedback part is shown only through the Ladder while a version is open and stays so after a
freeze, so its items are not counted as exposed (``docs/methods.md``, "What each public number
reveals about the hidden split"). Items are matched across versions by ``item_id`` alone.
"""

from __future__ import annotations

import io
import tomllib
import zipfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.errors import SpecError
from evaluation.parts import hidden_parts
from evaluation.spec import SPEC_FILE, BenchmarkFolder, load_benchmark
from evaluation.splits import HASHED_FILES, SPLIT_NAMES, Split

#: The parts whose sizes are checked: the public dev split and the two parts of the hidden one.
SIZED_PARTS = ("dev", "feedback", "final")
_ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class SpecChange:
    """One key of ``benchmark.toml`` whose value differs; ``None`` stands for an absent key."""

    path: str
    """Dotted key path, e.g. ``metrics.primary``; lists are compared whole."""
    old: Any
    new: Any


@dataclass(frozen=True)
class Relabel:
    """An item present in both versions whose label (by class name) changed."""

    item_id: str
    old: str
    new: str


@dataclass(frozen=True)
class SplitChanges:
    """How one split's items changed, matched by ``item_id``."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    relabelled: tuple[Relabel, ...] = ()
    inputs_changed: tuple[str, ...] = ()

    @property
    def unchanged(self) -> bool:
        """Whether no item was added, removed, relabelled or given other inputs."""
        return not (self.added or self.removed or self.relabelled or self.inputs_changed)


@dataclass(frozen=True)
class VersionDiff:
    """The difference of a new version's folder from the previous version's."""

    spec_changes: tuple[SpecChange, ...]
    splits: dict[str, SplitChanges]
    """By split name (``dev``, ``test``); an item that moved splits is listed under ``moved``."""
    dev_to_test: tuple[str, ...]
    """Items public in the previous version that the new one hides."""
    test_to_dev: tuple[str, ...]
    """Items hidden in the previous version that the new one publishes."""
    file_hashes: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    """``(old, new)`` sha256 of each hashed file; ``old`` is None without a previous version."""

    def as_dict(self) -> dict[str, Any]:
        """The diff as plain JSON types, for storage with a draft and for the API."""
        return {
            "spec_changes": [{"path": c.path, "old": c.old, "new": c.new} for c in self.spec_changes],
            "splits": {
                name: {
                    "added": list(changes.added),
                    "removed": list(changes.removed),
                    "relabelled": [{"item_id": r.item_id, "old": r.old, "new": r.new} for r in changes.relabelled],
                    "inputs_changed": list(changes.inputs_changed),
                }
                for name, changes in self.splits.items()
            },
            "dev_to_test": list(self.dev_to_test),
            "test_to_dev": list(self.test_to_dev),
            "file_hashes": {name: {"old": old, "new": new} for name, (old, new) in self.file_hashes.items()},
        }


def raw_spec(folder: BenchmarkFolder) -> dict[str, Any]:
    """``benchmark.toml`` of a loaded folder as the maintainer wrote it."""
    return tomllib.loads((folder.path / SPEC_FILE).read_text(encoding="utf-8"))


def spec_changes(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[SpecChange]:
    """Every key path whose value differs between two parsed specs, in sorted order.

    Tables are descended into; any other value (lists included) is compared whole. A key present
    on one side only is a change from or to ``None``.
    """
    changes: list[SpecChange] = []
    for key in sorted(set(old) | set(new)):
        path = f"{prefix}{key}"
        before, after = old.get(key), new.get(key)
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            changes.extend(spec_changes(before, after, prefix=f"{path}."))
        elif before != after:
            changes.append(SpecChange(path=path, old=before, new=after))
    return changes


def split_changes(old: Split, new: Split, old_classes: tuple[str, ...], new_classes: tuple[str, ...]) -> SplitChanges:
    """Items added, removed, relabelled and with other inputs between two versions of one split.

    Labels are compared by class name, so reordering ``classes`` relabels nothing. Inputs are
    compared exactly (bit for bit after the float32 check the loader made); an item whose
    inputs changed shape counts as changed.
    """
    old_index = {str(item): i for i, item in enumerate(old.item_ids)}
    new_index = {str(item): i for i, item in enumerate(new.item_ids)}
    shared = sorted(set(old_index) & set(new_index))
    relabelled = []
    inputs_changed = []
    for item in shared:
        i, j = old_index[item], new_index[item]
        before, after = old_classes[int(old.labels[i])], new_classes[int(new.labels[j])]
        if before != after:
            relabelled.append(Relabel(item_id=item, old=before, new=after))
        if old.inputs[i].shape != new.inputs[j].shape or not np.array_equal(old.inputs[i], new.inputs[j]):
            inputs_changed.append(item)
    return SplitChanges(
        added=tuple(sorted(set(new_index) - set(old_index))),
        removed=tuple(sorted(set(old_index) - set(new_index))),
        relabelled=tuple(relabelled),
        inputs_changed=tuple(inputs_changed),
    )


def diff_versions(previous: BenchmarkFolder | None, new: BenchmarkFolder) -> VersionDiff:
    """The diff of ``new`` against ``previous`` (every item "added" when there is none).

    An item that moved between dev and test is listed in ``dev_to_test`` or ``test_to_dev``
    and not as added to one split and removed from the other; its label and input changes are
    still reported under the split it moved to.
    """
    new_splits = {name: new.load_split(name) for name in SPLIT_NAMES}
    if previous is None:
        return VersionDiff(
            spec_changes=(),
            splits={name: SplitChanges(added=tuple(sorted(map(str, s.item_ids)))) for name, s in new_splits.items()},
            dev_to_test=(),
            test_to_dev=(),
            file_hashes={name: (None, new.file_hashes[name]) for name in HASHED_FILES},
        )
    old_splits = {name: previous.load_split(name) for name in SPLIT_NAMES}
    old_ids = {name: set(map(str, s.item_ids)) for name, s in old_splits.items()}
    new_ids = {name: set(map(str, s.item_ids)) for name, s in new_splits.items()}
    dev_to_test = old_ids["dev"] & new_ids["test"]
    test_to_dev = old_ids["test"] & new_ids["dev"]
    old_classes, new_classes = previous.spec.classes, new.spec.classes
    splits = {}
    for name in SPLIT_NAMES:
        changes = split_changes(old_splits[name], new_splits[name], old_classes, new_classes)
        other = "test" if name == "dev" else "dev"
        moved_in = _cross_changes(old_splits[other], new_splits[name], old_classes, new_classes, old_ids[other])
        splits[name] = SplitChanges(
            added=tuple(item for item in changes.added if item not in old_ids[other]),
            removed=tuple(item for item in changes.removed if item not in new_ids[other]),
            relabelled=changes.relabelled + moved_in.relabelled,
            inputs_changed=changes.inputs_changed + moved_in.inputs_changed,
        )
    return VersionDiff(
        spec_changes=tuple(spec_changes(raw_spec(previous), raw_spec(new))),
        splits=splits,
        dev_to_test=tuple(sorted(dev_to_test)),
        test_to_dev=tuple(sorted(test_to_dev)),
        file_hashes={name: (previous.file_hashes[name], new.file_hashes[name]) for name in HASHED_FILES},
    )


def _cross_changes(
    old: Split, new: Split, old_classes: tuple[str, ...], new_classes: tuple[str, ...], old_ids: set[str]
) -> SplitChanges:
    """Label and input changes of the items of ``new`` that came from the other split ``old``."""
    keep = np.array([str(item) in old_ids for item in new.item_ids], dtype=bool)
    if not keep.any():
        return SplitChanges()
    moved = Split(inputs=new.inputs[keep], labels=new.labels[keep], item_ids=new.item_ids[keep], metadata={})
    return split_changes(old, moved, old_classes, new_classes)


def part_sizes(folder: BenchmarkFolder) -> dict[str, int]:
    """Items in the dev split and in the feedback and final parts of the hidden split.

    The parts are the ones every evaluation of this exact folder uses (``hidden_parts`` with the
    folder's content hash, feedback fraction and clusters).
    """
    dev, test = folder.load_split("dev"), folder.load_split("test")
    parts = hidden_parts(
        test.item_ids,
        content_hash=folder.content_hash,
        fraction=folder.spec.feedback_fraction,
        clusters=test.metadata.get("cluster"),
    )
    return {
        "dev": int(dev.labels.shape[0]),
        "feedback": int(parts["feedback"].sum()),
        "final": int(parts["final"].sum()),
    }


def size_problems(sizes: Mapping[str, int], minimum: int) -> list[str]:
    """One sentence for each part holding fewer than ``minimum`` items; empty when all pass."""
    return [
        f"the {part} part holds {sizes[part]} items, fewer than the minimum of {minimum}; "
        f"add items to it (or lower TOUCHSTONE_MIN_PART_ITEMS for a site that accepts small benchmarks)"
        for part in SIZED_PARTS
        if sizes[part] < minimum
    ]


def revealed_item_ids(folder: BenchmarkFolder) -> frozenset[str]:
    """The hidden items a frozen version of ``folder`` shows per-item results of: its final part."""
    test = folder.load_split("test")
    parts = hidden_parts(
        test.item_ids,
        content_hash=folder.content_hash,
        fraction=folder.spec.feedback_fraction,
        clusters=test.metadata.get("cluster"),
    )
    return frozenset(map(str, test.item_ids[parts["final"]]))


def exposed_items(
    new: BenchmarkFolder, earlier: Mapping[str, BenchmarkFolder], frozen: Collection[str]
) -> dict[str, list[str]]:
    """Hidden items of ``new`` that earlier versions made public, each with the reasons.

    ``earlier`` maps a name for each earlier visible version to its folder; ``frozen`` names
    those that were frozen (their final parts are public). Returns ``{item_id: [reason, ...]}``
    in item order, empty when no hidden item of ``new`` was public before.
    """
    hidden = [str(item) for item in new.load_split("test").item_ids]
    public: dict[str, list[str]] = {}
    for name, folder in earlier.items():
        for item in map(str, folder.load_split("dev").item_ids):
            public.setdefault(item, []).append(f"in the public dev split of {name}")
        if name in frozen:
            for item in revealed_item_ids(folder):
                public.setdefault(item, []).append(f"results published when {name} was frozen")
    return {item: public[item] for item in sorted(hidden) if item in public}


def move_to_dev(folder: BenchmarkFolder, item_ids: Collection[str], destination: Path) -> BenchmarkFolder:
    """Write a copy of ``folder`` into ``destination`` with the hidden items ``item_ids`` in dev.

    ``benchmark.toml`` is copied byte for byte; the moved items are appended to the dev split
    with their metadata columns (a column only the hidden split has, such as ``cluster``, is
    dropped for them). The archives are written deterministically (fixed member order and
    timestamps, no compression), so the same move gives the same content hash. Raises
    ``SpecError`` when the hidden split would be left empty or dev needs a column the hidden
    split lacks.
    """
    dev, test = folder.load_split("dev"), folder.load_split("test")
    moving = np.isin(test.item_ids.astype(str), np.array(sorted(map(str, item_ids)), dtype=str))
    if moving.all():
        raise SpecError(
            "every hidden item was public in an earlier version; the new version would have no hidden split"
        )
    missing = sorted(set(dev.metadata) - set(test.metadata))
    if missing:
        raise SpecError(f"dev.npz has metadata column {missing[0]!r}, which test.npz lacks, so items cannot move to it")
    new_dev = {
        "inputs": np.concatenate([dev.inputs, test.inputs[moving]]),
        "labels": np.concatenate([dev.labels, test.labels[moving]]),
        "item_ids": np.concatenate([dev.item_ids, test.item_ids[moving]]),
        **{name: np.concatenate([column, test.metadata[name][moving]]) for name, column in dev.metadata.items()},
    }
    kept = ~moving
    new_test = {
        "inputs": test.inputs[kept],
        "labels": test.labels[kept],
        "item_ids": test.item_ids[kept],
        **{name: column[kept] for name, column in test.metadata.items()},
    }
    destination.mkdir(parents=True, exist_ok=False)
    (destination / SPEC_FILE).write_bytes((folder.path / SPEC_FILE).read_bytes())
    (destination / "dev.npz").write_bytes(npz_bytes(new_dev))
    (destination / "test.npz").write_bytes(npz_bytes(new_test))
    return load_benchmark(destination)


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """An ``.npz`` archive of ``arrays`` that is byte for byte the same for the same arrays."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            member = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE_TIME)
            member.external_attr = 0o644 << 16
            data = io.BytesIO()
            np.lib.format.write_array(data, np.ascontiguousarray(arrays[name]), version=(1, 0), allow_pickle=False)
            archive.writestr(member, data.getvalue())
    return buffer.getvalue()
