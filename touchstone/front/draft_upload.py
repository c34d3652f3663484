"""Unpacking a benchmark folder that a maintainer uploads as a .zip or .tar.gz archive.

Only the three files of a benchmark folder are taken, each by its base name, from the
archive's top level or from one folder inside it; links, devices, absolute paths and ``..``
are refused, and so is an archive whose files would unpack to more than
``settings.MAX_DRAFT_BYTES``. Nothing outside ``destination`` is ever written.
"""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from evaluation.splits import HASHED_FILES


class ArchiveRejected(Exception):
    pass


def _wanted(name: str) -> str | None:
    """The benchmark file a member stands for, or None; refuses paths that escape."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise ArchiveRejected(f"the archive holds {name!r}, a path outside the folder; pack the folder itself")
    if len(path.parts) <= 2 and path.name in HASHED_FILES:
        return path.name
    return None


def unpack_folder(uploaded: UploadedFile, destination: Path) -> Path:
    """Write the benchmark files of ``uploaded`` into ``destination`` (created) and return it."""
    limit = settings.MAX_DRAFT_BYTES
    destination.mkdir(parents=True, exist_ok=False)
    head = uploaded.read(4)
    uploaded.seek(0)
    found: dict[str, str] = {}
    total = 0
    if head.startswith(b"PK\x03\x04"):
        _unpack_zip(uploaded, destination, found, limit)
    elif head.startswith(b"\x1f\x8b"):
        try:
            with tarfile.open(fileobj=uploaded, mode="r:gz") as archive:
                for member in archive:
                    wanted = _wanted(member.name)
                    if wanted is None:
                        continue
                    if not member.isreg():
                        raise ArchiveRejected(f"{member.name} is not a regular file; pack the file itself")
                    total += member.size
                    if total > limit:
                        raise ArchiveRejected(f"the archive unpacks to more than {limit // 2**20} MB")
                    _claim(found, wanted, member.name)
                    source = archive.extractfile(member)
                    assert source is not None  # a regular member always has contents
                    with source, open(destination / wanted, "wb") as target:
                        _copy_limited(source, target, member.size)
        except (tarfile.TarError, EOFError, OSError) as error:
            raise ArchiveRejected(f"the .tar.gz archive could not be read ({error})") from None
    else:
        raise ArchiveRejected("upload the benchmark folder as a .zip or .tar.gz archive")
    missing = [name for name in HASHED_FILES if name not in found]
    if missing:
        raise ArchiveRejected(
            f"the archive has no {', '.join(missing)}; a benchmark folder holds {', '.join(HASHED_FILES)}"
        )
    return destination


def _unpack_zip(uploaded: UploadedFile, destination: Path, found: dict[str, str], limit: int) -> None:
    total = 0
    try:
        with zipfile.ZipFile(uploaded) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                wanted = _wanted(info.filename)
                if wanted is None:
                    continue
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise ArchiveRejected(f"{info.filename} is a symbolic link; pack the file itself")
                total += info.file_size
                if total > limit:
                    raise ArchiveRejected(f"the archive unpacks to more than {limit // 2**20} MB")
                _claim(found, wanted, info.filename)
                with archive.open(info) as source, open(destination / wanted, "wb") as target:
                    _copy_limited(source, target, info.file_size)
    except (zipfile.BadZipFile, OSError) as error:
        raise ArchiveRejected(f"the .zip archive could not be read ({error})") from None


def _claim(found: dict[str, str], wanted: str, member: str) -> None:
    if wanted in found:
        raise ArchiveRejected(f"the archive holds {wanted} twice ({found[wanted]} and {member}); pack one folder")
    found[wanted] = member


def _copy_limited(source, target, size: int) -> None:
    # A member that holds more than its header says is cut at the declared size.
    shutil.copyfileobj(_Limited(source, size), target)


class _Limited:
    def __init__(self, source, size: int) -> None:
        self.source, self.left = source, size

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if n < 0 else min(n, self.left)
        data = self.source.read(n)
        self.left -= len(data)
        return data
