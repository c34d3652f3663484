"""Keeping a machine's cache of the bucket under its size bound (``STORAGE_CACHE_MAX_BYTES``).

With ``TOUCHSTONE_STORAGE=s3`` each machine works on copies of the bucket's files in
``STORAGE_CACHE_DIR`` (``touchstone/storage.py``). Every copy is checked against the hashes the
database records before it is trusted, so any of them may be removed and fetched again later.
After each download, ``trim_cache`` removes the least recently used copies until the cache fits
its bound again.

What is evicted, and what never is:

- A unit is either a version folder fetched or stored whole (the folder and the ``.complete``
  mark beside it) or a single file (a model, an outcomes file, a pinned baseline). Its last use
  is its mark's or its file's modification time, which ``touch`` sets each time the cache hands
  it out (access times are not used: many filesystems are mounted without them).
- A unit held by ``in_use`` (a shared ``flock`` on its file or mark, taken by the worker for the
  whole evaluation) is never evicted: the evicting process takes an exclusive lock first and
  leaves the unit alone when it cannot have one. Locks are seen by every process of the machine.
- A unit used in the last ``MIN_IDLE_SECONDS`` is never evicted either: that covers the moment
  between a fetch and its lock, and a file written here that is still being sent to the bucket.
- Files being written (``.staging-*``, ``*.partial``) and folders under ``benchmarks/`` that are
  not complete yet (a version being published) are never units at all.

So the cache never goes below what the runs in progress need: if they alone exceed the bound,
the cache stays over it until they finish, and a warning says so.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

COMPLETE_SUFFIX = ".complete"
STAGING_PREFIX = ".staging-"
PARTIAL_SUFFIX = ".partial"
# Folders whose files only count once the whole folder is complete (a version being published
# is copied, then its corrupted copies generated, then sent to the bucket and marked).
WHOLE_FOLDER_AREAS = ("benchmarks",)
MIN_IDLE_SECONDS = 600.0


@dataclass
class CacheUnit:
    """Something evicted whole: one file, or a folder with its completion mark."""

    lock: Path
    paths: list[Path] = field(default_factory=list)
    size: int = 0
    last_use: float = 0.0


def completion_mark(folder: Path) -> Path:
    """The file beside a cached folder that says it was fetched (or stored) whole and checked."""
    return folder.with_name(folder.name + COMPLETE_SUFFIX)


def touch(path: Path) -> bool:
    """Record a use of the cached file ``path``; False when it is not there (evicted, or never fetched)."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    return True


def _is_being_written(name: str) -> bool:
    return name.startswith(STAGING_PREFIX) or name.endswith(PARTIAL_SUFFIX)


def _folder_size(folder: Path) -> int:
    total = 0
    for item in folder.rglob("*"):
        with contextlib.suppress(FileNotFoundError):
            if item.is_file():
                total += item.stat().st_size
    return total


def cache_units(root: Path) -> list[CacheUnit]:
    """Every evictable unit of the cache at ``root``, least recently used first."""
    units: list[CacheUnit] = []
    for current, folders, files in os.walk(root):
        here = Path(current)
        inside_whole_area = here != root and here.relative_to(root).parts[0] in WHOLE_FOLDER_AREAS
        marked = {name[: -len(COMPLETE_SUFFIX)] for name in files if name.endswith(COMPLETE_SUFFIX)}
        for name in sorted(marked & set(folders)):
            mark = here / f"{name}{COMPLETE_SUFFIX}"
            with contextlib.suppress(FileNotFoundError):
                units.append(
                    CacheUnit(
                        lock=mark,
                        paths=[mark, here / name],
                        size=_folder_size(here / name) + mark.stat().st_size,
                        last_use=mark.stat().st_mtime,
                    )
                )
        # A complete folder is one unit; a folder being written or published is none.
        folders[:] = [name for name in folders if name not in marked and not name.startswith(STAGING_PREFIX)]
        if inside_whole_area:
            continue
        for name in files:
            path = here / name
            if _is_being_written(name) or (name.endswith(COMPLETE_SUFFIX) and name[: -len(COMPLETE_SUFFIX)] in marked):
                continue
            with contextlib.suppress(FileNotFoundError):
                status = path.stat()
                units.append(CacheUnit(lock=path, paths=[path], size=status.st_size, last_use=status.st_mtime))
    return sorted(units, key=lambda unit: unit.last_use)


def _evict(unit: CacheUnit, *, idle_before: float) -> bool:
    """Remove ``unit`` unless a run holds it or it was used since ``idle_before``; whether it was removed."""
    try:
        handle = os.open(unit.lock, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a running evaluation holds it
        # Asked again under the lock: a reader may have touched it since the cache was listed.
        if os.fstat(handle).st_mtime > idle_before:
            return False
        for path in unit.paths:  # the mark first, so no reader trusts a folder half removed
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        return True
    finally:
        os.close(handle)


def trim_cache(root: Path, *, max_bytes: int, now: float | None = None) -> list[Path]:
    """Evict the least recently used units of the cache at ``root`` until it holds ``max_bytes`` or less.

    Returns the removed units (a file, or a folder). Units in use, used lately or being written
    stay, even if the cache then remains over its bound.
    """
    if not root.is_dir():
        return []
    units = cache_units(root)
    total = sum(unit.size for unit in units)
    idle_before = (time.time() if now is None else now) - MIN_IDLE_SECONDS
    removed: list[Path] = []
    for unit in units:
        if total <= max_bytes:
            break
        if unit.last_use > idle_before:
            break  # every later unit was used more recently still
        if _evict(unit, idle_before=idle_before):
            total -= unit.size
            removed.append(unit.paths[-1])
            logger.info("evicted %s from the storage cache (%d bytes, least recently used)", unit.paths[-1], unit.size)
    if total > max_bytes:
        logger.warning(
            "the storage cache %s holds %d MiB, over its %d MiB bound: the rest is in use or was used in the "
            "last %d seconds; raise TOUCHSTONE_STORAGE_CACHE_MB if this lasts",
            root,
            total // 2**20,
            max_bytes // 2**20,
            MIN_IDLE_SECONDS,
        )
    return removed


@contextlib.contextmanager
def in_use(*paths: Path) -> Iterator[None]:
    """Keep the cached files or folders at ``paths`` from eviction while the block runs.

    A folder is held through its completion mark. A path with nothing to hold (storage is a
    local folder, used in place) is ignored. A copy evicted between its fetch and this hold (which
    ``MIN_IDLE_SECONDS`` makes all but impossible) raises ``FileNotFoundError``.
    """
    with contextlib.ExitStack() as stack:
        for path in paths:
            lock = completion_mark(path) if path.is_dir() else path
            try:
                handle = os.open(lock, os.O_RDONLY)
            except FileNotFoundError:
                # A folder used in place (local storage) has no mark and nothing evicts it; a
                # missing file fails the run where it is read, as it would without the hold.
                continue
            stack.callback(os.close, handle)
            fcntl.flock(handle, fcntl.LOCK_SH)
            if os.fstat(handle).st_nlink == 0:  # evicted between the open and the lock
                raise FileNotFoundError(
                    f"{path} left this machine's storage cache before the run could hold it; run it again"
                )
        yield
