"""Upload checks on real archives written by torch 2.13 and on hand-made bad ones."""

from __future__ import annotations

import hashlib
import pickle
import re
import struct
import zipfile
from pathlib import Path

import pytest
import torch

from evaluation.archive import inspect_model_file
from evaluation.archive_zip import (
    MAX_ENTRY_BYTES,
    ParseBudget,
    open_checked_zip,
    read_zip_directory,
)
from evaluation.errors import ModelFileError
from tests.security import archives, models

CAP = 64 * 1024**2


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    """The same model saved every way torch offers."""
    folder = tmp_path_factory.mktemp("saved")
    module = Tiny().eval()
    paths = {name: folder / name for name in ("scripted.pt", "traced.pt", "exported.pt2", "state_dict.pt", "module.pt")}
    torch.jit.save(torch.jit.script(module), str(paths["scripted.pt"]))
    torch.jit.save(torch.jit.trace(module, torch.zeros(2, 4)), str(paths["traced.pt"]))
    batch = torch.export.Dim("batch")
    program = torch.export.export(module, (torch.zeros(2, 4),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(paths["exported.pt2"]))
    torch.save(module.state_dict(), paths["state_dict.pt"])
    torch.save(module, paths["module.pt"])
    return paths


def _rewrite(source: Path, target: Path, transform) -> Path:
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for info in original.infolist():
            result = transform(info, original.read(info))
            if result is not None:
                copy.writestr(*result)
    return target


@pytest.mark.parametrize(
    ("name", "expected"),
    [("scripted.pt", "torchscript"), ("traced.pt", "torchscript"), ("exported.pt2", "torch.export")],
)
def test_it_recognises_what_torch_jit_save_and_torch_export_save_write(saved, name, expected):
    path = saved[name]

    info = inspect_model_file(path, max_bytes=CAP)

    assert info.format == expected
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.size_bytes == path.stat().st_size
    with zipfile.ZipFile(path) as archive:
        assert info.member_count == len(archive.infolist())
        assert info.uncompressed_bytes == sum(i.file_size for i in archive.infolist())


@pytest.mark.parametrize("name", ["state_dict.pt", "module.pt"])
def test_it_refuses_a_torch_save_checkpoint(saved, name):
    with pytest.raises(ModelFileError, match=re.escape("torch.save checkpoint")):
        inspect_model_file(saved[name], max_bytes=CAP)


def test_it_refuses_a_raw_pickle_without_unpickling_it(tmp_path: Path):
    canary = tmp_path / "unpickled"
    path = archives.build_pickle_payload(tmp_path / "upload", canary)

    with pytest.raises(ModelFileError) as caught:
        inspect_model_file(path, max_bytes=CAP)

    assert "raw pickle" in str(caught.value)
    assert "torch.jit.save" in str(caught.value)
    assert not canary.exists()


def test_it_refuses_a_pickle_with_a_zip_appended(saved, tmp_path: Path):
    # zipfile finds an archive at the end of any file; torch's reader might not agree.
    path = tmp_path / "polyglot.pt"
    path.write_bytes(pickle.dumps({"weights": 1}) + saved["scripted.pt"].read_bytes())

    with pytest.raises(ModelFileError, match="raw pickle"):
        inspect_model_file(path, max_bytes=CAP)


@pytest.mark.parametrize("content", [b"", b"hello", b"PK\x03\x04 truncated"])
def test_it_refuses_files_that_are_not_zip_archives(tmp_path: Path, content: bytes):
    path = tmp_path / "model.pt"
    path.write_bytes(content)

    with pytest.raises(ModelFileError, match=r"not a (valid )?TorchScript or torch\.export archive"):
        inspect_model_file(path, max_bytes=CAP)


def test_it_refuses_a_zip_with_another_layout(tmp_path: Path):
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("weights/model.bin", b"\0" * 100)
        archive.writestr("weights/config.json", b"{}")

    with pytest.raises(ModelFileError, match=re.escape("matches neither TorchScript nor torch.export")):
        inspect_model_file(path, max_bytes=CAP)


def test_it_refuses_an_export_archive_whose_format_marker_is_wrong(saved, tmp_path: Path):
    def relabel(info, data):
        return (info, b"zip" if info.filename.endswith("/archive_format") else data)

    path = _rewrite(saved["exported.pt2"], tmp_path / "relabelled.pt2", relabel)

    with pytest.raises(ModelFileError, match="matches neither"):
        inspect_model_file(path, max_bytes=CAP)


def test_it_refuses_a_file_over_the_cap_naming_the_cap(saved):
    with pytest.raises(ModelFileError) as caught:
        inspect_model_file(saved["scripted.pt"], max_bytes=1024)

    assert "larger than the upload limit of 1 KiB" in str(caught.value)


def test_the_size_message_names_the_cap_in_mib(tmp_path: Path):
    path = models.build_oversized_model(tmp_path, size_bytes=3 * 1024**2)

    with pytest.raises(ModelFileError, match="upload limit of 2 MiB"):
        inspect_model_file(path, max_bytes=2 * 1024**2)


@pytest.mark.parametrize(
    "name", ["scripted/../../../etc/cron.d/x", "/scripted/code/x.py", "scripted\\..\\x", "C:/scripted/x"]
)
def test_it_refuses_members_with_unsafe_names(saved, tmp_path: Path, name: str):
    path = tmp_path / "model.pt"
    _rewrite(saved["scripted.pt"], path, lambda info, data: (info, data))
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(zipfile.ZipInfo(name), b"x")

    with pytest.raises(ModelFileError, match="unsafe name"):
        inspect_model_file(path, max_bytes=CAP)


def test_it_refuses_symbolic_link_members(tmp_path: Path):
    path = archives.build_symlink_archive(tmp_path)

    with pytest.raises(ModelFileError, match="symbolic link"):
        inspect_model_file(path, max_bytes=CAP)


def test_it_refuses_a_zip_bomb_by_its_declared_expansion(tmp_path: Path):
    path = archives.build_zip_bomb(tmp_path, expanded_bytes=32 * 1024**2)

    with pytest.raises(ModelFileError) as caught:
        inspect_model_file(path, max_bytes=CAP)

    assert "zip bomb" in str(caught.value) and "100 times" in str(caught.value)
    # The same file passes with a looser ratio: the check is the ratio, nothing else.
    assert inspect_model_file(path, max_bytes=CAP, max_compression_ratio=10_000).format == ("torchscript")


def test_it_refuses_too_many_members(saved):
    with pytest.raises(ModelFileError, match="more than the 5 allowed"):
        inspect_model_file(saved["scripted.pt"], max_bytes=CAP, max_members=5)


def test_it_refuses_duplicate_member_names(saved, tmp_path: Path):
    path = tmp_path / "model.pt"
    _rewrite(saved["scripted.pt"], path, lambda info, data: (info, data))
    with zipfile.ZipFile(path, "a") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr(archive.infolist()[0].filename, b"shadowing data")

    with pytest.raises(ModelFileError, match="duplicate"):
        inspect_model_file(path, max_bytes=CAP)


def test_it_refuses_encrypted_members(saved, tmp_path: Path):
    # zipfile cannot write encrypted members: set the flag in the central directory by hand.
    data = bytearray(saved["scripted.pt"].read_bytes())
    central_entry = data.find(b"PK\x01\x02")
    data[central_entry + 8] |= 0x1  # general purpose flags, bit 0: encrypted
    path = tmp_path / "model.pt"
    path.write_bytes(bytes(data))

    with pytest.raises(ModelFileError, match="encrypted"):
        inspect_model_file(path, max_bytes=CAP)


def test_it_refuses_what_is_not_a_regular_file(tmp_path: Path):
    with pytest.raises(ModelFileError, match="not a regular file"):
        inspect_model_file(tmp_path, max_bytes=CAP)
    with pytest.raises(ModelFileError, match="could not be read"):
        inspect_model_file(tmp_path / "missing.pt", max_bytes=CAP)


# The end records, read before zipfile parses anything -----------------------------------------

END = struct.Struct("<4sHHHHIIH")


def _directory(path: Path, max_members: int = 10_000):
    with open(path, "rb") as handle:
        return read_zip_directory(handle, path.stat().st_size, max_members=max_members)


def _edit_end_record(path: Path, **fields: int) -> Path:
    """Rewrite fields of the (last) end-of-central-directory record in place."""
    data = bytearray(path.read_bytes())
    position = data.rfind(b"PK\x05\x06")
    names = (
        "signature",
        "disk",
        "directory_disk",
        "disk_entries",
        "entries",
        "directory_size",
        "directory_offset",
        "comment_length",
    )
    values = dict(zip(names, END.unpack_from(data, position), strict=True))
    values.update(fields)
    END.pack_into(data, position, *(values[name] for name in names))
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("zip64", [False, True])
def test_it_reads_the_count_and_the_directory_from_the_end_records(tmp_path: Path, zip64):
    path = archives.build_many_member_zip(tmp_path, members=7, zip64=zip64)

    directory = _directory(path)

    with zipfile.ZipFile(path) as archive:
        assert directory.entries == len(archive.infolist()) == 7
        assert directory.offset == archive.start_dir
    assert directory.zip64 is zip64
    assert directory.size == 7 * (46 + len("m/0000000"))


def test_it_reads_what_torch_writes(saved):
    for name in ("scripted.pt", "exported.pt2"):
        with zipfile.ZipFile(saved[name]) as archive:
            assert _directory(saved[name]).entries == len(archive.infolist())


def test_it_refuses_too_many_members_from_the_end_record_alone(tmp_path: Path):
    path = archives.build_many_member_zip(tmp_path, members=30)
    # Wreck the central directory: only the end record is left to count from.
    data = bytearray(path.read_bytes())
    start = data.find(b"PK\x01\x02")
    data[start : start + 200] = b"\xff" * 200
    path.write_bytes(bytes(data))

    with pytest.raises(ModelFileError, match="has 30 members, more than the 10 allowed"):
        inspect_model_file(path, max_bytes=CAP, max_members=10)


def test_it_refuses_a_zip64_count_above_the_cap(tmp_path: Path):
    path = archives.build_many_member_zip(tmp_path, members=12, zip64=True)
    # The classic record says 0xFFFF ("see zip64"), as zipfile writes it for huge archives.
    _edit_end_record(path, disk_entries=0xFFFF, entries=0xFFFF)

    with pytest.raises(ModelFileError, match="has 12 members, more than the 10 allowed"):
        inspect_model_file(path, max_bytes=CAP, max_members=10)


def test_it_refuses_a_directory_larger_than_its_members_can_need(tmp_path: Path):
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("m/padding", b"\0" * (2 * MAX_ENTRY_BYTES))
    end = path.read_bytes().rfind(b"PK\x05\x06")
    # One member, and a directory that claims to start inside its data.
    _edit_end_record(path, directory_offset=100, directory_size=end - 100)

    with pytest.raises(ModelFileError) as caught:
        inspect_model_file(path, max_bytes=CAP)

    assert f"declares {end - 100:,} bytes for 1 members" in str(caught.value)
    assert "not a valid TorchScript or torch.export archive" in str(caught.value)


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda data: data[:-10], "end-of-central-directory record is missing"),
        (lambda data: data + b"trailing", "does not end the file"),
        (lambda data: data[:-2] + b"\x05\x00", "does not end the file"),
    ],
)
def test_it_refuses_a_truncated_or_extended_end_record(saved, tmp_path: Path, edit, words):
    path = tmp_path / "model.pt"
    path.write_bytes(edit(saved["scripted.pt"].read_bytes()))

    with pytest.raises(ModelFileError, match=words):
        inspect_model_file(path, max_bytes=CAP)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"directory_offset": 10**9}, "does not end where its end record starts"),
        ({"directory_offset": 0}, "does not end where its end record starts"),
        ({"disk": 1}, "split across several disks"),
        ({"disk_entries": 2}, "split across several disks"),
        ({"entries": 0, "disk_entries": 0}, "has no members"),
        ({"entries": 2, "disk_entries": 2}, "another number of members"),
        ({"directory_size": 46}, "too small for the members"),
    ],
)
def test_it_refuses_inconsistent_end_records(tmp_path: Path, fields, words):
    path = _edit_end_record(archives.build_many_member_zip(tmp_path, members=3), **fields)

    with pytest.raises(ModelFileError, match=words):
        inspect_model_file(path, max_bytes=CAP)


LOCATOR = -20
ZIP64_RECORD = -20 - 56


@pytest.mark.parametrize(
    ("offsets", "words"),
    [
        # The locator's pointer to the zip64 record, and the zip64 record's own size field.
        ([LOCATOR + 8], "zip64 end locator is inconsistent"),
        ([ZIP64_RECORD + 4], "zip64 end record is inconsistent"),
        # The zip64 record's member counts, which then disagree with the classic record's.
        ([ZIP64_RECORD + 24, ZIP64_RECORD + 32], "disagrees with its end record"),
    ],
)
def test_it_refuses_inconsistent_zip64_records(tmp_path: Path, offsets, words):
    path = archives.build_many_member_zip(tmp_path, members=3, zip64=True)
    data = bytearray(path.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    for offset in offsets:
        value = struct.unpack_from("<Q", data, end + offset)[0]
        struct.pack_into("<Q", data, end + offset, value + 1)
    path.write_bytes(bytes(data))

    with pytest.raises(ModelFileError, match=words):
        inspect_model_file(path, max_bytes=CAP)


# The time budget ---------------------------------------------------------------------------------


def test_it_stops_when_its_time_budget_is_spent(saved):
    with pytest.raises(ModelFileError, match="longer than the 0 s allowed"):
        inspect_model_file(saved["exported.pt2"], max_bytes=CAP, time_budget_seconds=0)
    assert inspect_model_file(saved["exported.pt2"], max_bytes=CAP).format == "torch.export"


def test_the_budget_is_checked_between_members_not_only_between_steps(tmp_path: Path):
    path = archives.build_many_member_zip(tmp_path, members=5_000)
    ticks = iter(range(10**6))
    # A clock that advances one second each time it is read: checks made only between the
    # few steps would stay within 20 seconds; checks inside the member loop do not.
    budget = ParseBudget(20, clock=lambda: float(next(ticks)))

    with open(path, "rb") as handle, pytest.raises(ModelFileError, match="20 s allowed"):
        open_checked_zip(handle, path.stat().st_size, max_members=10_000, budget=budget, hint="")
