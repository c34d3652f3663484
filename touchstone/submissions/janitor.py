"""Removing what interrupted uploads leave behind, and never a file a submission points to.

An upload is streamed to a temporary file, copied into its own folder under
``submissions/YYYY/MM/<random>/`` in private storage, checked, and only then given a row. A web
process killed on the way leaves a temporary file, a partial copy, or a complete model with no
row. ``clean_orphan_uploads`` (the ``clean_uploads`` command and the periodic task of the same
name) removes, once they are older than ``ORPHAN_UPLOAD_SECONDS``:

- every upload folder that holds no file named by a submission's ``model_path``;
- every file in ``FILE_UPLOAD_TEMP_DIR``, where Django streams uploads while a request runs.

The age is that of the newest file in the folder, so an upload still being written (or one
whose row is being committed right now) is never touched.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from django.conf import settings

from touchstone.storage import private_path
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


def clean_orphan_uploads(*, older_than_seconds: float | None = None) -> list[Path]:
    """Remove orphan upload folders and stale temporary upload files; returns what was removed."""
    age = settings.ORPHAN_UPLOAD_SECONDS if older_than_seconds is None else older_than_seconds
    cutoff = time.time() - age
    removed: list[Path] = []
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
            if Submission.objects.filter(model_path__startswith=f"{relative}/").exists():
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
    return removed
