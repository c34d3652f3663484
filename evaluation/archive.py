"""Upload checks for model files, run before anything is stored.

A submission must be a TorchScript archive (``torch.jit.save``) or a torch.export archive
(``torch.export.save``, ``.pt2``). Both are zip files whose members share one top-level folder:

- TorchScript: ``<name>/data.pkl``, ``<name>/constants.pkl``, ``<name>/code/...``,
  ``<name>/data/<n>`` tensors, ``<name>/version``.
- torch.export: ``<name>/archive_format`` (containing ``pt2``), ``<name>/models/*.json``,
  ``<name>/data/weights/...``, ``<name>/archive_version``.

The checks read the zip end records first, within fixed bounds, and stop after a time budget
(``archive_zip``). For torch.export archives they also read the JSON members and the opcodes of
every pickle torch would load, because ``torch.export.load`` can run code from those
(``archive_export``); TorchScript's loader unpickles only torch's own types, so its archives
are not read beyond the directory. Nothing is unpickled, imported or loaded here: that happens
only inside the sandbox.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .archive_export import check_export_archive
from .archive_zip import DEFAULT_TIME_BUDGET_SECONDS, ParseBudget, open_checked_zip
from .errors import ModelFileError

MIB = 1024**2
DEFAULT_MAX_MEMBERS = 10_000
_PICKLE_PROTOCOL_BYTE = 0x80
_ZIP_LOCAL_HEADER = b"PK\x03\x04"
_SAVE_HINT = (
    "Save the model with torch.jit.save(torch.jit.script(model), 'model.pt') or "
    "torch.export.save(torch.export.export(model, example_inputs), 'model.pt2')."
)


@dataclass(frozen=True)
class ModelFileInfo:
    """What the upload checks learned about an accepted model file."""

    format: str
    """"torchscript" or "torch.export"."""
    sha256: str
    """Hex sha256 of the file's bytes, shown so the scored artifact is the released one."""
    size_bytes: int
    """Size of the file on disk."""
    member_count: int
    """Number of members in the zip archive."""
    uncompressed_bytes: int
    """Sum of the members' declared uncompressed sizes."""


def _size(size_bytes: float) -> str:
    """A byte count for people: MiB, or KiB below one MiB."""
    if size_bytes < MIB:
        return f"{size_bytes / 1024:.0f} KiB"
    return f"{size_bytes / MIB:.1f} MiB".replace(".0 MiB", " MiB")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _reject_not_zip(head: bytes) -> None:
    if head[:1] and head[0] == _PICKLE_PROTOCOL_BYTE:
        raise ModelFileError(
            "The file is not a TorchScript or torch.export archive: it is a raw pickle (for "
            "example from pickle.dump or an old torch.save). Pickles can run arbitrary code "
            f"and are never loaded. {_SAVE_HINT}"
        )
    raise ModelFileError(f"The file is not a TorchScript or torch.export archive (not a zip file). {_SAVE_HINT}")


def _check_bomb(infos: list[zipfile.ZipInfo], size_bytes: int, max_compression_ratio: float) -> int:
    uncompressed = sum(info.file_size for info in infos)
    if uncompressed > max_compression_ratio * max(size_bytes, 1):
        raise ModelFileError(
            f"The archive would expand to {_size(uncompressed)} from "
            f"{_size(size_bytes)}, more than {max_compression_ratio:g} times its size; "
            "this looks like a zip bomb and is refused. Model archives store tensors "
            f"uncompressed. {_SAVE_HINT}"
        )
    return uncompressed


def _sniff_format(archive: zipfile.ZipFile, names: list[str]) -> tuple[str, str]:
    roots = {name.split("/", 1)[0] for name in names}
    if len(roots) != 1 or any("/" not in name for name in names):
        raise ModelFileError(
            "The archive's layout matches neither TorchScript nor torch.export (their members "
            f"all live under one top-level folder). {_SAVE_HINT}"
        )
    root = roots.pop()
    inner = {name[len(root) + 1 :] for name in names}
    if {"data.pkl", "constants.pkl", "version"} <= inner and any(name.startswith("code/") for name in inner):
        return "torchscript", root
    if "archive_format" in inner and any(name.startswith("models/") and name.endswith(".json") for name in inner):
        info = archive.getinfo(f"{root}/archive_format")
        if info.file_size <= 64:
            with archive.open(info) as handle:
                if handle.read(64).strip() == b"pt2":
                    return "torch.export", root
    if "data.pkl" in inner:
        raise ModelFileError(
            "The file is a torch.save checkpoint (pickled weights or a pickled module), not a "
            f"TorchScript or torch.export archive. {_SAVE_HINT}"
        )
    raise ModelFileError(f"The archive's layout matches neither TorchScript nor torch.export. {_SAVE_HINT}")


def inspect_model_file(
    path: Path,
    *,
    max_bytes: int,
    max_compression_ratio: float = 100.0,
    max_members: int = DEFAULT_MAX_MEMBERS,
    time_budget_seconds: float = DEFAULT_TIME_BUDGET_SECONDS,
) -> ModelFileInfo:
    """Check an uploaded model file without loading it, and describe it.

    Raises ModelFileError when the file is larger than ``max_bytes``, is not a zip archive
    (e.g. a raw pickle), declares more than ``max_members`` members or a central directory
    larger than they can need, has inconsistent end records, has unsafe members (``..``,
    absolute names, symbolic links, encryption), looks like a zip bomb (declared expansion
    above ``max_compression_ratio`` times the file size, or overlapping members), has a layout
    that is neither TorchScript's nor torch.export's, is a torch.export archive that would run
    code when loaded (pickles of anything but tensors, native code, Python objects, program
    strings torch evaluates), or takes longer than ``time_budget_seconds`` to check.
    """
    budget = ParseBudget(time_budget_seconds)
    path = Path(path)
    try:
        file_stat = os.stat(path)
    except OSError as error:
        raise ModelFileError(f"The model file could not be read ({error.strerror}).") from error
    if not stat.S_ISREG(file_stat.st_mode):
        raise ModelFileError("The model upload is not a regular file.")
    size_bytes = file_stat.st_size
    if size_bytes > max_bytes:
        raise ModelFileError(
            f"The model file is {_size(size_bytes)}, larger than the upload limit of "
            f"{_size(max_bytes)}. Reduce the model's size (fewer parameters, or "
            "half-precision weights cast back to float32 in forward())."
        )
    with open(path, "rb") as handle:
        head = handle.read(4)
        if head != _ZIP_LOCAL_HEADER:
            # Also refuses zip files with data prepended (pickle/zip polyglots): torch's reader
            # and Python's zipfile could disagree on where such an archive starts.
            _reject_not_zip(head)
        archive, infos = open_checked_zip(
            handle,
            size_bytes,
            max_members=max_members,
            budget=budget,
            hint=_SAVE_HINT,
            kind="TorchScript or torch.export archive",
        )
        with archive:
            try:
                uncompressed = _check_bomb(infos, size_bytes, max_compression_ratio)
                model_format, root = _sniff_format(archive, [info.filename for info in infos])
                if model_format == "torch.export":
                    check_export_archive(archive, infos, root, handle=handle, size=size_bytes, budget=budget)
            except (zipfile.BadZipFile, EOFError, ValueError) as error:
                raise ModelFileError(
                    f"The file is not a valid TorchScript or torch.export archive ({error}). {_SAVE_HINT}"
                ) from error
    budget.check()
    return ModelFileInfo(
        format=model_format,
        sha256=_sha256(path),
        size_bytes=size_bytes,
        member_count=len(infos),
        uncompressed_bytes=uncompressed,
    )
