"""Bounded opening of zip archives: the end records first, then zipfile, then every member.

A zip file says at its very end how many members it has and how large its central directory
is. Python's ``zipfile`` believes those numbers and parses the whole directory before anyone
can count the members, so a 100 MB file with a million tiny entries costs seconds of CPU and
hundreds of MB in the web process. Here the end records are read with ``struct`` from the
file's tail and checked against the member cap first; only an archive whose declared directory
is small enough is handed to ``zipfile``. Every later step runs against a ``ParseBudget``, a
wall-clock allowance checked between steps and inside loops (no signals: the checks run in web
threads).

The checks are strict where two zip readers could disagree about what an archive contains
(Python's ``zipfile`` here, torch's own reader inside the sandbox): the end record must end the
file exactly, the directory must end where the end record starts, no data may precede the
first member, names must be unique and members must not overlap.
"""

from __future__ import annotations

import itertools
import stat
import struct
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO

from .errors import ModelFileError

DEFAULT_TIME_BUDGET_SECONDS = 2.0
# The largest central-directory entry accepted: the fixed 46 bytes, a name of at most
# MAX_NAME_BYTES and at most MAX_ENTRY_EXTRA_BYTES of extra fields and comment. torch writes
# short names, a 4-byte alignment extra field and no comments.
CENTRAL_ENTRY_FIXED_BYTES = 46
MAX_NAME_BYTES = 1024
MAX_ENTRY_EXTRA_BYTES = 512
MAX_ENTRY_BYTES = CENTRAL_ENTRY_FIXED_BYTES + MAX_NAME_BYTES + MAX_ENTRY_EXTRA_BYTES

_END = struct.Struct("<4sHHHHIIH")
_END_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sIQI")
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_ZIP64_END = struct.Struct("<4sQHHIIQQQQ")
_ZIP64_END_SIGNATURE = b"PK\x06\x06"
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_HEADER_SIGNATURE = b"PK\x03\x04"
_MAX_COMMENT_BYTES = 0xFFFF


class ParseBudget:
    """A wall-clock allowance for the upload checks, checked between steps and in loops."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = float(seconds)
        self._clock = clock
        self._deadline = clock() + self.seconds

    def check(self) -> None:
        """Raise ModelFileError once the allowance is used up."""
        if self._clock() > self._deadline:
            raise ModelFileError(
                f"Checking the archive took longer than the {self.seconds:g} s allowed, so it is "
                "refused. Model archives written by torch.jit.save or torch.export.save of one "
                "model are checked in a fraction of that; this one holds unusually many "
                "members, pickled objects or graph nodes."
            )


@dataclass(frozen=True)
class ZipDirectory:
    """Where an archive's central directory lies, as declared by its end records."""

    entries: int
    """Number of members the end record declares."""
    offset: int
    """Byte offset of the central directory."""
    size: int
    """Byte size of the central directory."""
    zip64: bool
    """Whether the archive uses zip64 end records."""


def _broken(label: str, kind: str, detail: str) -> ModelFileError:
    return ModelFileError(f"{label} is not a valid {kind}: {detail}.")


def _read_at(handle: BinaryIO, offset: int, length: int) -> bytes:
    handle.seek(offset)
    return handle.read(length)


def _locate_end_record(handle: BinaryIO, size: int, label: str, kind: str) -> tuple[int, bytes]:
    """Find the end-of-central-directory record that ends the file exactly."""
    tail_length = min(size, _END.size + _MAX_COMMENT_BYTES)
    tail = _read_at(handle, size - tail_length, tail_length)
    # The last signature is the record both zipfile and torch's reader pick; its comment must
    # reach exactly to the end of the file, or the readers could disagree on where it ends.
    position = tail.rfind(_END_SIGNATURE)
    if position < 0 or position + _END.size > len(tail):
        raise _broken(label, kind, "its end-of-central-directory record is missing (truncated file?)")
    record = tail[position : position + _END.size]
    comment_length = _END.unpack(record)[7]
    if position + _END.size + comment_length != len(tail):
        raise _broken(label, kind, "its end-of-central-directory record does not end the file")
    return size - tail_length + position, record


def read_zip_directory(
    handle: BinaryIO,
    size: int,
    *,
    max_members: int,
    label: str = "The archive",
    kind: str = "zip archive",
) -> ZipDirectory:
    """Read and check an archive's end records before anything parses its directory.

    Raises ModelFileError when the end record is missing or does not end the file, when the
    archive spans several disks, when the zip64 records are missing or disagree with the end
    record, when more than ``max_members`` entries are declared, when the directory is larger
    than ``MAX_ENTRY_BYTES`` per declared entry, or when it does not end where the end records
    begin (offsets outside the file, gaps, or data prepended to the archive).
    """
    end_offset, record = _locate_end_record(handle, size, label, kind)
    _, disk, directory_disk, disk_entries, entries, directory_size, directory_offset, _ = _END.unpack(record)
    if disk != 0 or directory_disk != 0 or disk_entries != entries:
        raise _broken(label, kind, "it is split across several disks")
    directory_end = end_offset
    zip64 = False
    locator_offset = end_offset - _ZIP64_LOCATOR.size
    if locator_offset >= 0:
        locator = _read_at(handle, locator_offset, _ZIP64_LOCATOR.size)
        if locator[:4] == _ZIP64_LOCATOR_SIGNATURE:
            zip64 = True
            entries, directory_size, directory_offset, directory_end = _read_zip64(
                handle,
                locator,
                locator_offset,
                (entries, directory_size, directory_offset),
                label,
                kind,
            )
    if entries > max_members:
        raise ModelFileError(f"{label} has {entries:,} members, more than the {max_members:,} allowed.")
    if entries == 0:
        raise _broken(label, kind, "it has no members")
    if directory_size > entries * MAX_ENTRY_BYTES:
        raise _broken(
            label,
            kind,
            f"its central directory declares {directory_size:,} bytes for {entries:,} members, "
            f"more than the {MAX_ENTRY_BYTES:,} bytes per member a model archive can need",
        )
    if directory_size < entries * CENTRAL_ENTRY_FIXED_BYTES:
        raise _broken(label, kind, "its central directory is too small for the members it declares")
    if directory_offset + directory_size != directory_end:
        raise _broken(label, kind, "its central directory does not end where its end record starts")
    return ZipDirectory(entries, directory_offset, directory_size, zip64)


def _read_zip64(
    handle: BinaryIO,
    locator: bytes,
    locator_offset: int,
    classic: tuple[int, int, int],
    label: str,
    kind: str,
) -> tuple[int, int, int, int]:
    _, record_disk, record_offset, disks = _ZIP64_LOCATOR.unpack(locator)
    # zipfile assumes the zip64 end record sits right before its locator while torch's reader
    # follows the locator's offset: accept only archives where both mean the same bytes.
    if record_disk != 0 or disks != 1 or record_offset != locator_offset - _ZIP64_END.size:
        raise _broken(label, kind, "its zip64 end locator is inconsistent")
    record = _read_at(handle, record_offset, _ZIP64_END.size)
    if len(record) != _ZIP64_END.size or record[:4] != _ZIP64_END_SIGNATURE:
        raise _broken(label, kind, "its zip64 end record is missing")
    (_, record_size, _, _, disk, directory_disk, disk_entries, entries, directory_size, directory_offset) = (
        _ZIP64_END.unpack(record)
    )
    if record_size != _ZIP64_END.size - 12 or disk != 0 or directory_disk != 0:
        raise _broken(label, kind, "its zip64 end record is inconsistent")
    if disk_entries != entries:
        raise _broken(label, kind, "it is split across several disks")
    for value, value64, sentinel in zip(
        classic, (entries, directory_size, directory_offset), (0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF), strict=True
    ):
        if value not in (value64, sentinel):
            raise _broken(label, kind, "its zip64 end record disagrees with its end record")
    return entries, directory_size, directory_offset, record_offset


def _check_member_name(info: zipfile.ZipInfo, hint: str) -> None:
    name = info.filename
    path = PurePosixPath(name)
    if (
        not name
        or "\\" in name
        or "\x00" in name
        or name.startswith("/")
        or (len(name) > 1 and name[1] == ":")
        or ".." in path.parts
    ):
        raise ModelFileError(
            f"The archive contains a member with an unsafe name ({name!r}): absolute paths and "
            f"'..' are not allowed. {hint}"
        )
    if len(name.encode()) > MAX_NAME_BYTES:
        raise ModelFileError(f"The archive contains a member whose name is longer than {MAX_NAME_BYTES} bytes. {hint}")
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_ISLNK(mode):
        raise ModelFileError(f"The archive contains a symbolic link ({name!r}); links are not allowed. {hint}")
    if info.flag_bits & 0x1:
        raise ModelFileError(f"The archive member {name!r} is encrypted. {hint}")


def _check_overlaps(infos: list[zipfile.ZipInfo], hint: str) -> None:
    # Members whose data overlap (several directory entries pointing at the same bytes) are the
    # other zip-bomb construction; real archives never do it.
    spans = sorted((info.header_offset, info.compress_size) for info in infos)
    for (offset, length), (next_offset, _) in itertools.pairwise(spans):
        if next_offset < offset + length or next_offset == offset:
            raise ModelFileError(
                f"The archive's members overlap each other, a zip-bomb construction; it is refused. {hint}"
            )


def open_checked_zip(
    handle: BinaryIO,
    size: int,
    *,
    max_members: int,
    budget: ParseBudget,
    hint: str,
    label: str = "The archive",
    kind: str = "zip archive",
) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    """Open a zip archive whose end records, directory and members all pass the checks.

    The end records are checked first (``read_zip_directory``); then ``zipfile`` parses the
    bounded directory, and every member must start after the previous one ends, have a unique
    and safe name, and be neither a symbolic link nor encrypted. ``hint`` ends each message.
    The caller closes the returned ZipFile (the handle stays open).
    """
    directory = read_zip_directory(handle, size, max_members=max_members, label=label, kind=kind)
    budget.check()
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, ValueError, EOFError) as error:
        raise _broken(label, kind, str(error)) from error
    try:
        infos = archive.infolist()
        budget.check()
        if len(infos) != directory.entries:
            raise _broken(
                label,
                kind,
                "its central directory holds another number of members than its end record declares",
            )
        if min(info.header_offset for info in infos) != 0:
            raise _broken(label, kind, "data precedes its first member")
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise ModelFileError(f"The archive contains duplicate member names. {hint}")
        for index, info in enumerate(infos):
            if index % 256 == 0:
                budget.check()
            _check_member_name(info, hint)
        _check_overlaps(infos, hint)
        budget.check()
    except BaseException:
        archive.close()
        raise
    return archive, infos


def stored_member_span(handle: BinaryIO, size: int, info: zipfile.ZipInfo) -> tuple[int, int]:
    """Return (offset, length) of a stored (uncompressed) member's bytes inside the file.

    Raises ModelFileError when the member is compressed, its local header is broken or names
    another member, or its data run past the end of the file.
    """
    if info.compress_type != zipfile.ZIP_STORED:
        raise ModelFileError(
            f"The archive member {info.filename!r} is compressed; torch stores its nested archives uncompressed."
        )
    header = _read_at(handle, info.header_offset, _LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size or header[:4] != _LOCAL_HEADER_SIGNATURE:
        raise ModelFileError(f"The archive member {info.filename!r} has a broken local header.")
    name_length, extra_length = _LOCAL_HEADER.unpack(header)[9:11]
    name = _read_at(handle, info.header_offset + _LOCAL_HEADER.size, name_length)
    if name != info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437"):
        raise ModelFileError(f"The archive member {info.filename!r} has another name in its local header.")
    start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
    if start + info.compress_size > size or info.compress_size != info.file_size:
        raise ModelFileError(f"The archive member {info.filename!r} runs past the archive.")
    return start, info.compress_size
