"""Removing what interrupted uploads leave behind, and never a file a submission points to.

An upload is streamed to a temporary file, copied into its own folder under
``submissions/YYYY/MM/<random>/`` in private storage, checked, and only then given a row. A web
process killed on the way leaves a temporary file, a partial copy, or a complete model with no
row. ``clean_orphan_uploads`` (the ``clean_uploads`` command and the periodic task of the same
name) removes, once they are older than ``ORPHAN_UPLOAD_SECONDS``:

- every upload folder that holds no file named by a submission's ``model_path``;
- every file in ``FILE_UPLOAD_TEMP_DIR``, where Django streams uploads while a request runs;
- with a bucket (``TOUCHSTONE_STORAGE=s3``), every object under ``submissions/`` in an upload
  folder no submission points into: a web server killed after sending the model and before its
  row committed leaves one there, and no machine's local pass would ever see it.

The age is that of the newest file in the folder (the newest object, by the bucket's clock), so
an upload still being written (or one whose row is being committed right now) is never touched.
Rows are asked last and folder by folder, so a row committed during the pass still protects its
files.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from django.conf import settings

from touchstone.storage import is_remote, private_path, private_storage
from touchstone.submissions.models import Submission

logger = logging.getLogger(__name__)

UPLOADS_FOLDER = "submissions"


def _newest_change(path: Path) -> float:
    """The latest modification time of a folder and everything in it."""
    times = [path.stat().st_mtime]
    times += [item.stat().st_mtime for item in path.rglob("*")]
    return max(times)


def _upload_folders(root: Path) -> list[Path]:
    """The per-upload folders: ``submissions/<year>/<month>/<random>``."""
    return sorted(folder for folder in root.glob("*/*/*") if folder.is_dir())


def _is_referenced(folder: str) -> bool:
    """Whether a submission's model file is in the upload folder ``folder`` (relative to private storage)."""
    return Submission.objects.filter(model_path__startswith=f"{folder}/").exists()


def _object_unit(name: str) -> str:
    """What a bucket object is removed with: its upload folder ``submissions/<year>/<month>/<random>``.

    An object outside any upload folder (which uploads never make) is a unit of its own.
    """
    parts = name.split("/")
    return "/".join(parts[:4]) if len(parts) > 4 else name


def _unit_is_referenced(unit: str) -> bool:
    return _is_referenced(unit) or Submission.objects.filter(model_path=unit).exists()


def clean_orphan_objects(*, cutoff: float) -> list[str]:
    """Remove the bucket's upload objects last written before ``cutoff`` in folders no row points into.

    Returns the removed objects' names. Nothing to do when private storage is a local folder.
    """
    if not is_remote():
        return []
    storage = private_storage()
    units: dict[str, dict[str, float]] = {}
    for name, written in storage.modified_times(UPLOADS_FOLDER).items():
        units.setdefault(_object_unit(name), {})[name] = written
    removed: list[str] = []
    for unit, objects in sorted(units.items()):
        # Rows are asked last, so that a row committed while the bucket was listed still counts.
        if max(objects.values()) > cutoff or _unit_is_referenced(unit):
            continue
        for name in sorted(objects):
            storage.delete(name)
            removed.append(name)
        logger.info("removed the orphan upload object(s) %s from the bucket (no submission points to them)", unit)
    return removed


def clean_orphan_uploads(*, older_than_seconds: float | None = None) -> list[Path | str]:
    """Remove orphan upload folders, stale temporary upload files and orphan upload objects in a bucket.

    Returns what was removed: local paths, and the names of bucket objects as ``bucket:<name>``.
    """
    age = settings.ORPHAN_UPLOAD_SECONDS if older_than_seconds is None else older_than_seconds
    cutoff = time.time() - age
    removed: list[Path | str] = []
    root = private_path(UPLOADS_FOLDER)
    if root.is_dir():
        for folder in _upload_folders(root):
            try:
                if _newest_change(folder) > cutoff:
                    continue
            except FileNotFoundError:
                continue  # removed while we looked
            relative = folder.relative_to(private_path(".")).as_posix()
            # Asked last and per folder, so that a row committed while we scanned still counts.
            if _is_referenced(relative):
                continue
            shutil.rmtree(folder, ignore_errors=True)
            logger.info("removed the orphan upload folder %s (no submission points into it)", folder)
            removed.append(folder)
    temporary = Path(settings.FILE_UPLOAD_TEMP_DIR) if settings.FILE_UPLOAD_TEMP_DIR else None
    if temporary is not None and temporary.is_dir():
        for item in sorted(temporary.iterdir()):
            try:
                if item.is_file() and item.stat().st_mtime <= cutoff:
                    item.unlink()
                    logger.info("removed the stale temporary upload file %s", item)
                    removed.append(item)
            except FileNotFoundError:
                continue
    removed += [f"bucket:{name}" for name in clean_orphan_objects(cutoff=cutoff)]
    return removed
