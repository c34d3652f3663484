"""Builders of malicious model archives: pickles, zip bombs, traversal and link members.

Each ``build_*`` function writes one file into ``directory`` and returns its path. All but
``build_pickle_in_torchscript_layout`` must be refused by the upload checks.
"""

from __future__ import annotations

import pickle
import stat
import zipfile
from pathlib import Path

from tests.security.models import MIB, build_normal_model


class _CreatesFile:
    """Unpickling this calls open(path, "w"): proof that a pickle was executed."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def build_pickle_payload(directory: Path, canary: Path) -> Path:
    """A raw pickle named like a model; unpickling it would create ``canary``."""
    path = directory / "model.pt"
    directory.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(_CreatesFile(str(canary)), protocol=2))
    return path


def _copy_archive(source: Path, target: Path, replace: dict[str, bytes] | None = None,
                  extra: list[tuple[zipfile.ZipInfo, bytes]] | None = None) -> Path:
    replace = replace or {}
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for info in original.infolist():
            data = original.read(info)
            for suffix, payload in replace.items():
                if info.filename.endswith(suffix):
                    data = payload
            copy.writestr(info, data)
        for info, data in extra or []:
            copy.writestr(info, data)
    return target


def build_pickle_in_torchscript_layout(directory: Path, canary: Path) -> Path:
    """A TorchScript archive whose ``data.pkl`` is a payload that would create ``canary``.

    It passes the upload checks (the layout is right); only the sandboxed loader sees it.
    """
    normal = build_normal_model(directory / "base")
    payload = pickle.dumps(_CreatesFile(str(canary)), protocol=2)
    return _copy_archive(normal, directory / "pickle-in-archive.pt", {"/data.pkl": payload})


def build_zip_bomb(directory: Path, *, expanded_bytes: int = 64 * MIB) -> Path:
    """A TorchScript-shaped archive with one member of ``expanded_bytes`` zeros, deflated."""
    normal = build_normal_model(directory / "base")
    path = directory / "zip-bomb.pt"
    _copy_archive(normal, path)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        root = archive.namelist()[0].split("/")[0]
        with archive.open(f"{root}/data/bomb", "w", force_zip64=True) as member:
            zeros = bytes(MIB)
            for _ in range(expanded_bytes // MIB):
                member.write(zeros)
    return path


def build_traversal_archive(directory: Path, *, name: str = "archive/../../evil.py") -> Path:
    """A TorchScript archive with an extra member named ``name`` (``..`` or absolute)."""
    normal = build_normal_model(directory / "base")
    info = zipfile.ZipInfo(name)
    safe = name.replace("/", "_").replace(".", "_")
    return _copy_archive(normal, directory / f"traversal-{safe}.pt", extra=[(info, b"print(1)")])


def build_symlink_archive(directory: Path, *, target: str = "/etc/passwd") -> Path:
    """A TorchScript archive with an extra member that is a symbolic link to ``target``."""
    normal = build_normal_model(directory / "base")
    with zipfile.ZipFile(normal) as original:
        root = original.namelist()[0].split("/")[0]
    info = zipfile.ZipInfo(f"{root}/data/link")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return _copy_archive(normal, directory / "symlink.pt", extra=[(info, target.encode())])


