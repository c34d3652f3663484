"""Upload checks specific to torch.export archives (``.pt2``).

``torch.export.load`` in torch 2.13 runs code from an archive in more ways than its graph:

- ``data/sample_inputs/<model>.pt`` (always present) and the legacy ``data/weights/<model>.pt``
  and ``data/constants/<model>.pt`` go through ``torch.load`` with ``weights_only=True`` and,
  when that fails, again with ``weights_only=False`` -- any class, any code;
- a weight or tensor constant that its ``*_config.json`` marks ``use_pickle`` goes straight to
  ``torch.load(weights_only=False)``;
- ``data/constants/opaque_obj_*`` goes to ``pickle.loads`` and ``custom_obj_*`` to
  TorchScript's object unpickler;
- anything under ``data/aotinductor/`` is a compiled shared library that is loaded (native
  code); ExecuTorch, MTIA and external-weight folders are other runtimes' formats;
- ``models/<model>.json`` holds strings that are evaluated as Python (see
  ``archive_program``).

A program whose batch dimension is fixed is refused too (``archive_batch``): it could never
run on the site's batches.

So every member torch would unpickle must be a torch.save archive whose pickles load only
tensors (``archive_pickles``), members in the native-code and object folders are refused, and
every program is checked. A member that is not declared a raw tensor and yet starts like a
pickle (protocol byte 0x80) or a zip archive is checked as one too. Raw tensor members are
never read.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any, BinaryIO

from .archive_batch import check_batch_dimension
from .archive_pickles import check_pickle
from .archive_program import check_program
from .archive_zip import ParseBudget, open_checked_zip, stored_member_span
from .errors import ModelFileError

MAX_JSON_BYTES = 16 * 1024**2
MAX_NESTED_MEMBERS = 1_000
_PICKLE_BYTE = 0x80
_ZIP_MAGIC = b"PK\x03\x04"
_REFUSED_FOLDERS = {
    "data/aotinductor/": "compiled native code (AOTInductor)",
    "data/executorch/": "an ExecuTorch program",
    "data/mtia": "an MTIA program",
    "xl_model_weights/": "external weights",
}
_REFUSED_CONSTANTS = re.compile(r"data/constants/(custom_obj|opaque_obj)_[^/]*")
_CONFIG = re.compile(r"data/(weights|constants)/[^/]+_(weights|constants)_config\.json")
_PROGRAM = re.compile(r"models/[^/]+\.json")
_PATH_NAME = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*", re.ASCII)
_HINT = (
    "Save the model with torch.export.save(torch.export.export(model, example_inputs), "
    "'model.pt2') from a model whose weights are plain tensors."
)


class _Span(io.RawIOBase):
    """A read-only, seekable window onto ``length`` bytes of ``handle`` from ``start``."""

    def __init__(self, handle: BinaryIO, start: int, length: int) -> None:
        super().__init__()
        self._handle = handle
        self._start = start
        self._length = length
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._length}[whence]
        self._position = min(max(base + offset, 0), self._length)
        return self._position

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self._length - self._position)
        if count <= 0:
            return 0
        self._handle.seek(self._start + self._position)
        data = self._handle.read(count)
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


def _read_json(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: ParseBudget, allowance: list[int]) -> Any:
    if info.file_size > allowance[0]:
        raise ModelFileError(
            f"The archive's JSON members are larger than the {MAX_JSON_BYTES // 1024**2} MiB "
            f"that are checked ({info.filename!r}). {_HINT}"
        )
    allowance[0] -= info.file_size
    with archive.open(info) as handle:
        data = handle.read(info.file_size + 1)
    budget.check()
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise ModelFileError(f"The archive member {info.filename!r} is not valid JSON.") from None


def _pickled_and_raw(config: Any, folder: str, member: str) -> tuple[set[str], set[str]]:
    """Members a payload config declares as pickled and as raw tensor bytes."""
    entries = config.get("config") if isinstance(config, dict) else None
    if not isinstance(entries, dict):
        raise ModelFileError(f"The archive member {member!r} is not a payload configuration.")
    pickled: set[str] = set()
    raw: set[str] = set()
    for name, entry in entries.items():
        path_name = entry.get("path_name") if isinstance(entry, dict) else None
        if not (isinstance(path_name, str) and _PATH_NAME.fullmatch(path_name)):
            raise ModelFileError(
                f"The archive member {member!r} names a payload file that is not a plain file "
                f"name ({str(path_name)[:80]!r} for {str(name)[:80]!r}). {_HINT}"
            )
        (pickled if entry.get("use_pickle") is not False else raw).add(folder + path_name)
    return pickled, raw


def _check_nested_archive(handle: BinaryIO, size: int, info: zipfile.ZipInfo, where: str, budget: ParseBudget) -> None:
    """Check a member torch loads with torch.load: a torch.save archive of tensors only."""
    start, length = stored_member_span(handle, size, info)
    # A raw stream may return fewer bytes than asked; the buffered reader over it never does
    # before the end, which is what the zip checks expect of a file.
    nested, infos = open_checked_zip(
        io.BufferedReader(_Span(handle, start, length)),
        length,
        max_members=MAX_NESTED_MEMBERS,
        budget=budget,
        hint=_HINT,
        label=where,
        kind="torch.save archive",
    )
    with nested:
        for nested_info in infos:
            name = nested_info.filename
            with nested.open(nested_info) as member:
                is_pickle = name.endswith(".pkl") or member.read(1) == bytes([_PICKLE_BYTE])
            if is_pickle:
                with nested.open(nested_info) as member:
                    check_pickle(member, budget=budget, where=f"{where} holds {name!r}, which")


def _refuse_foreign_members(inner_names: dict[str, str]) -> None:
    for name, inner in inner_names.items():
        for folder, what in _REFUSED_FOLDERS.items():
            if inner.startswith(folder):
                raise ModelFileError(
                    f"The archive contains {what} ({name!r}); only the exported program is "
                    f"loaded, so such archives are refused. {_HINT}"
                )
        if _REFUSED_CONSTANTS.fullmatch(inner):
            raise ModelFileError(
                f"The archive contains a constant stored as a pickled Python object ({name!r}); "
                f"unpickling it would run code, so it is refused. {_HINT}"
            )


def check_export_archive(
    archive: zipfile.ZipFile,
    infos: list[zipfile.ZipInfo],
    root: str,
    *,
    handle: BinaryIO,
    size: int,
    budget: ParseBudget,
) -> None:
    """Refuse a torch.export archive that would make torch run code while loading it.

    ``archive`` is the open, already checked archive over ``handle`` (``size`` bytes) whose
    members all live under ``root``. Raises ModelFileError naming the member at fault.
    """
    inner_names = {info.filename: info.filename[len(root) + 1 :] for info in infos}
    _refuse_foreign_members(inner_names)
    allowance = [MAX_JSON_BYTES]
    pickled: set[str] = set()
    raw: set[str] = set()
    for info in infos:
        inner = inner_names[info.filename]
        if _CONFIG.fullmatch(inner):
            folder = inner.rsplit("/", 1)[0] + "/"
            config = _read_json(archive, info, budget, allowance)
            declared_pickled, declared_raw = _pickled_and_raw(config, folder, info.filename)
            pickled |= declared_pickled
            raw |= declared_raw
        elif _PROGRAM.fullmatch(inner):
            program = _read_json(archive, info, budget, allowance)
            check_program(program, where=repr(info.filename), budget=budget)
            # Checked only once the program is known to be safe to read further.
            check_batch_dimension(program, where=repr(info.filename))
    for index, info in enumerate(infos):
        if index % 64 == 0:
            budget.check()
        inner = inner_names[info.filename]
        where = f"The archive member {info.filename!r}"
        torch_loads = inner in pickled or (inner.startswith("data/") and inner.endswith(".pt"))
        if not torch_loads and (inner in raw or inner in _TEXT_MEMBERS or _is_text(inner)):
            continue
        with archive.open(info) as member:
            head = member.read(len(_ZIP_MAGIC))
        if head == _ZIP_MAGIC:
            _check_nested_archive(handle, size, info, where, budget)
        elif torch_loads:
            raise ModelFileError(
                f"{where} is loaded with torch.load but is not a torch.save archive (torch's "
                f"legacy pickle formats are not accepted). {_HINT}"
            )
        elif head[:1] == bytes([_PICKLE_BYTE]):
            with archive.open(info) as member:
                check_pickle(member, budget=budget, where=f"{where}, which")


_TEXT_MEMBERS = frozenset(["archive_format", "archive_version", "byteorder", ".data/version", ".data/serialization_id"])


def _is_text(inner: str) -> bool:
    """Members torch reads as text or JSON, never unpickles."""
    return inner.startswith("extra/") or bool(_CONFIG.fullmatch(inner) or _PROGRAM.fullmatch(inner))
