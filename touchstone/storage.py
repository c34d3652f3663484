"""Private storage: hidden splits, model files and per-item outcomes.

Every private file goes through the ``private`` storage of ``settings.STORAGES``. By default it
is a folder on this machine (``PRIVATE_STORAGE_ROOT``) and the code works on the files in place.
With ``TOUCHSTONE_STORAGE=s3`` it is an S3-compatible bucket shared by every machine; each
machine then keeps a cache of the files it works on under ``STORAGE_CACHE_DIR`` (the sandbox and
numpy need real files), filled from the bucket, checked against the SHA-256 the database
records, and fetched again when a cached copy does not match. The cache is kept under its size
bound by evicting the least recently used copies (``touchstone/storage_cache.py``).

Nothing in private storage has a URL. Files are written to a temporary name and renamed into
place (locally), or sent in one upload that appears whole or not at all (in a bucket), so a
crash never leaves half a file visible.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages

from touchstone.storage_cache import completion_mark, touch, trim_cache

CHUNK_BYTES = 1024 * 1024
COMPLETE_NOTE = "fetched whole and checked against the file hashes the database records\n"


class StorageIntegrityError(Exception):
    """A file fetched from private storage does not match the SHA-256 the database records."""


def private_storage() -> Storage:
    """The ``private`` storage of ``settings.STORAGES``."""
    return storages["private"]


def is_remote() -> bool:
    """Whether private files live elsewhere (a bucket) and this machine works on cached copies."""
    return not isinstance(private_storage(), FileSystemStorage)


def private_root() -> Path:
    """Where this machine keeps private files: the storage itself, or its cache of a bucket."""
    if is_remote():
        return Path(settings.STORAGE_CACHE_DIR)
    return Path(settings.PRIVATE_STORAGE_ROOT)


def private_path(relative: str) -> Path:
    """The local path of a private file on this machine, refusing escapes from the root.

    With a bucket this is the cached copy: call ``fetch_file`` or ``fetch_folder`` before
    reading it, and ``store_file`` or ``store_folder`` after writing it.
    """
    root = private_root().resolve()
    path = (root / relative).resolve()
    if root != path and root not in path.parents:
        raise ValueError(f"{relative!r} is outside private storage")
    return path


def _name(relative: str) -> str:
    """The storage name of ``relative``, checked like a path (no escape, no ``..``)."""
    private_path(relative)
    return Path(relative).as_posix().lstrip("/")


def copy_folder_atomically(source: Path, relative: str) -> Path:
    """Copy a folder's files into this machine's private root under ``relative``; returns the local path.

    With a bucket, ``store_folder`` then sends the folder (once anything generated into it is there).
    """
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


def write_file_atomically(relative: str, chunks: Iterable[bytes]) -> Path:
    """Write an iterable of byte chunks to private storage under ``relative``; returns the local path."""
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
    store_file(relative)
    return destination


def store_file(relative: str, *, keep_local: bool = True) -> None:
    """Send the local file at ``relative`` to the bucket (nothing to do when storage is local).

    One upload: the object is replaced whole, and readers see the old object or the new one.
    ``keep_local=False`` then removes this machine's copy (and its folder, once empty): a web
    server keeps no copy of the models it receives, which only the workers run.
    """
    if not is_remote():
        return
    path = private_path(relative)
    with open(path, "rb") as source:
        private_storage().save(_name(relative), File(source))
    if not keep_local:
        path.unlink()
        with contextlib.suppress(OSError):
            path.parent.rmdir()


def store_folder(relative: str) -> None:
    """Send every file under the local folder ``relative`` to the bucket, subfolders included.

    The caller has checked the local copy (a version's content hash), so it is marked complete
    in this machine's cache, as ``fetch_folder`` would mark a fetched one.
    """
    if not is_remote():
        return
    root = private_path(relative)
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith(".staging-"):
            store_file(f"{relative}/{path.relative_to(root).as_posix()}")
    _completion_mark(root).write_text(COMPLETE_NOTE)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while block := source.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _download(relative: str, destination: Path) -> None:
    """Copy one object to ``destination`` through a temporary file in the same folder."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=".staging-", dir=destination.parent)
    try:
        with os.fdopen(handle, "wb") as output, private_storage().open(_name(relative), "rb") as source:
            while block := source.read(CHUNK_BYTES):
                output.write(block)
        os.replace(staging, destination)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


def fetch_file(relative: str, *, sha256: str | None = None) -> Path:
    """A local copy of a private file, whose content hashes to ``sha256`` when that is given.

    With a bucket, a cached copy that is missing or does not match is fetched again; a fresh
    copy that still does not match raises ``StorageIntegrityError``. Locally the file is used in
    place, and a mismatch raises at once (there is no other copy to fetch).
    """
    path = private_path(relative)
    if is_remote():
        if touch(path) and (sha256 is None or sha256_of(path) == sha256):
            return path
        _download(relative, path)
        trim_storage_cache()
    if sha256 is not None and path.is_file():
        found = sha256_of(path)
        if found != sha256:
            raise StorageIntegrityError(
                f"the stored file {relative} hashes to {found[:12]}, not the {sha256[:12]} the database records; "
                "the copy in private storage is damaged: restore it from a backup"
            )
    return path


def _completion_mark(folder: Path) -> Path:
    """The file beside a cached folder that says it was fetched whole and checked."""
    return completion_mark(folder)


def trim_storage_cache() -> list[Path]:
    """Evict the least recently used copies from this machine's cache of the bucket past its bound."""
    if not is_remote():
        return []
    return trim_cache(Path(settings.STORAGE_CACHE_DIR), max_bytes=settings.STORAGE_CACHE_MAX_BYTES)


def _remote_files(relative: str) -> list[str]:
    """Every object under the folder ``relative`` of the bucket, as paths relative to private storage."""
    found: list[str] = []
    pending = [relative]
    while pending:
        folder = pending.pop()
        folders, files = private_storage().listdir(_name(folder))
        found.extend(f"{folder}/{name}" for name in files)
        pending.extend(f"{folder}/{name}" for name in folders)
    return sorted(found)


def _folder_matches(folder: Path, file_hashes: Mapping[str, str]) -> bool:
    return all((folder / name).is_file() and sha256_of(folder / name) == digest for name, digest in file_hashes.items())


def fetch_folder(relative: str, file_hashes: Mapping[str, str], *, verify: bool = False) -> Path:
    """A local copy of a private folder (a benchmark version) whose files hash as ``file_hashes`` says.

    With a bucket, the folder is fetched whole into the cache once and marked complete; later
    calls trust the mark unless ``verify`` asks to hash the files again (the workers do, before
    a model sees them), in which case a copy that does not match is fetched again. Locally the
    folder is used in place.
    """
    destination = private_path(relative)
    if not is_remote():
        return destination
    complete = _completion_mark(destination)
    if touch(complete) and destination.is_dir() and (not verify or _folder_matches(destination, file_hashes)):
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=destination.parent))
    try:
        for name in _remote_files(relative):
            _download(name, staging / name[len(relative) + 1 :])
        if not _folder_matches(staging, file_hashes):
            raise StorageIntegrityError(
                f"the stored folder {relative} does not match the file hashes the database records; "
                "the copy in private storage is damaged: restore it from a backup"
            )
        complete.unlink(missing_ok=True)
        if destination.exists():
            shutil.rmtree(destination)
        try:
            os.replace(staging, destination)
        except OSError:
            # Another process of this machine put a copy in place meanwhile; it was checked too.
            shutil.rmtree(staging, ignore_errors=True)
        complete.write_text(COMPLETE_NOTE)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    trim_storage_cache()
    return destination


def read_bytes(relative: str) -> bytes:
    """The current content of a private file that changes in place (never cached)."""
    with private_storage().open(_name(relative), "rb") as source:
        return source.read()


def delete_file(relative: str) -> None:
    """Remove a private file from storage and from this machine's cache."""
    private_path(relative).unlink(missing_ok=True)
    if is_remote():
        private_storage().delete(_name(relative))


def delete_folder(relative: str) -> None:
    """Remove a private folder, subfolders included, from storage and from this machine's cache."""
    local = private_path(relative)
    if is_remote():
        for name in _remote_files(relative):
            private_storage().delete(_name(name))
        _completion_mark(local).unlink(missing_ok=True)
    shutil.rmtree(local, ignore_errors=True)


def probe() -> None:
    """Write, read back and delete a small object; raises when storage cannot do all three."""
    name = f"health/.probe-{os.urandom(8).hex()}"
    storage = private_storage()
    saved = storage.save(name, ContentFile(b"ok"))
    try:
        with storage.open(saved, "rb") as source:
            if source.read() != b"ok":
                raise OSError("private storage returned other content than was written")
    finally:
        storage.delete(saved)
