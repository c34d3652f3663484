"""Upload checks on real archives written by torch 2.13 and on hand-made bad ones."""

from __future__ import annotations

import hashlib
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from evaluation.archive import inspect_model_file
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
    paths = {name: folder / name for name in ("scripted.pt", "traced.pt", "exported.pt2",
                                             "state_dict.pt", "module.pt")}
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


@pytest.mark.parametrize(("name", "expected"), [("scripted.pt", "torchscript"),
                                                 ("traced.pt", "torchscript"),
                                                 ("exported.pt2", "torch.export")])
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
    with pytest.raises(ModelFileError, match="torch.save checkpoint"):
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

    with pytest.raises(ModelFileError, match="not a (valid )?TorchScript or torch.export archive"):
        inspect_model_file(path, max_bytes=CAP)


def test_it_refuses_a_zip_with_another_layout(tmp_path: Path):
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("weights/model.bin", b"\0" * 100)
        archive.writestr("weights/config.json", b"{}")

    with pytest.raises(ModelFileError, match="matches neither TorchScript nor torch.export"):
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


@pytest.mark.parametrize("name", ["scripted/../../../etc/cron.d/x", "/scripted/code/x.py",
                                  "scripted\\..\\x", "C:/scripted/x"])
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
    assert inspect_model_file(path, max_bytes=CAP, max_compression_ratio=10_000).format == (
        "torchscript"
    )


def test_it_refuses_too_many_members(saved):
    with pytest.raises(ModelFileError, match="more than the 5 allowed"):
        inspect_model_file(saved["scripted.pt"], max_bytes=CAP, max_members=5)


def test_it_refuses_duplicate_member_names(saved, tmp_path: Path):
    path = tmp_path / "model.pt"
    _rewrite(saved["scripted.pt"], path, lambda info, data: (info, data))
    with zipfile.ZipFile(path, "a") as archive, pytest.warns(UserWarning):
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

