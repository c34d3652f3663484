"""Private storage: hidden splits, model files and per-item outcomes.

Nothing under ``PRIVATE_STORAGE_ROOT`` has a URL. Files are written to a temporary name in
the destination folder and renamed into place, so a crash never leaves half a file behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings


def private_root() -> Path:
    return Path(settings.PRIVATE_STORAGE_ROOT)


def private_path(relative: str) -> Path:
    """The absolute path of a file kept in private storage, refusing escapes from the root."""
    root = private_root().resolve()
    path = (root / relative).resolve()
    if root != path and root not in path.parents:
        raise ValueError(f"{relative!r} is outside private storage")
    return path


def copy_folder_atomically(source: Path, relative: str) -> Path:
    """Copy a folder into private storage under ``relative``; returns the final path."""
    destination = private_path(relative)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=destination.parent))
    try:
        for item in sorted(Path(source).iterdir()):
            if item.is_file():
                shutil.copyfile(item, staging / item.name)
        if destination.exists():
            shutil.rmtree(destination)
        os.replace(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return destination


def write_file_atomically(relative: str, chunks) -> Path:
    """Write an iterable of byte chunks to private storage under ``relative``."""
    destination = private_path(relative)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=".staging-", dir=destination.parent)
    try:
        with os.fdopen(handle, "wb") as output:
            for chunk in chunks:
                output.write(chunk)
        os.replace(staging, destination)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return destination
