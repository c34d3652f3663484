"""Malicious uploads that the upload checks refuse before anything is stored or loaded.

Each file goes through ``inspect_model_file`` (the upload path) and, where the upload check
is not about the upload cap, through ``SandboxedModel`` too, which repeats the checks before
handing anything to torch. Nothing is ever unpickled: the pickle canary is never created.

The torch.export archives that run code when torch loads them are first shown to do so in a
plain interpreter; then the upload checks must refuse each of them, and the sandboxed loader
must refuse the pickle-carrying ones on its own, even with the parent's checks taken away.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from evaluation.archive import ModelFileInfo, inspect_model_file
from evaluation.errors import EvaluationError, ModelFileError
from evaluation.sandbox import SandboxedModel, process
from tests.security import archives, models
from tests.security.support import ATTACK_LIMITS, Canaries, assert_normal_model_scores

UPLOAD_CAP = 1024**2

ARCHIVE_ATTACKS: dict[str, tuple[Callable[[Path, Canaries], Path], tuple[str, ...]]] = {
    "a pickle disguised as a model": (
        lambda folder, canaries: archives.build_pickle_payload(folder, canaries.write_target),
        ("raw pickle", "torch.jit.save"),
    ),
    "a zip bomb": (
        lambda folder, canaries: archives.build_zip_bomb(folder),
        ("zip bomb", "100 times"),
    ),
    "a member named ../../evil.py": (
        lambda folder, canaries: archives.build_traversal_archive(folder),
        ("unsafe name", "'..'"),
    ),
    "a member with an absolute name": (
        lambda folder, canaries: archives.build_traversal_archive(folder, name="/etc/cron.d/x"),
        ("unsafe name", "/etc/cron.d/x"),
    ),
    "a symbolic link member": (
        lambda folder, canaries: archives.build_symlink_archive(folder),
        ("symbolic link",),
    ),
}


@pytest.mark.parametrize("attack", ARCHIVE_ATTACKS)
def test_the_upload_checks_refuse_the_archive_and_so_does_the_sandbox(attack: str, canaries: Canaries, tmp_path: Path):
    build, words = ARCHIVE_ATTACKS[attack]
    path = build(tmp_path / "upload", canaries)

    with pytest.raises(ModelFileError) as at_upload:
        inspect_model_file(path, max_bytes=UPLOAD_CAP)
    with pytest.raises(ModelFileError) as in_sandbox:
        with SandboxedModel(path, limits=ATTACK_LIMITS) as model:
            model.predict(models.normal_inputs(4), n_classes=models.N_CLASSES)

    for word in words:
        assert word in str(at_upload.value)
    assert str(in_sandbox.value) == str(at_upload.value)
    canaries.assert_untouched()


def test_an_oversized_upload_is_refused_with_the_cap_in_the_message(tmp_path: Path):
    path = models.build_oversized_model(tmp_path, size_bytes=3 * 1024**2)

    with pytest.raises(ModelFileError) as caught:
        inspect_model_file(path, max_bytes=UPLOAD_CAP)

    assert "upload limit of 1 MiB" in str(caught.value)
    assert "is 3 MiB" in str(caught.value)


def test_a_normal_model_scores_after_the_archive_attacks(bubblewrap, normal_model: Path):
    assert inspect_model_file(normal_model, max_bytes=UPLOAD_CAP).format == "torchscript"
    assert_normal_model_scores(normal_model)


# Bounded cost -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def many_members(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 1.1-million-member zip (~100 MB), built once."""
    return archives.build_many_member_zip(tmp_path_factory.mktemp("many-members"))


def test_a_million_member_zip_is_refused_from_its_end_record_cheaply(many_members: Path):
    tracemalloc.start()
    began = time.process_time()
    try:
        with pytest.raises(ModelFileError) as caught:
            inspect_model_file(many_members, max_bytes=200 * 1024**2)
        seconds = time.process_time() - began
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert "has 1,100,000 members, more than the 10,000 allowed" in str(caught.value)
    # Parsing the directory with zipfile first took ~8 s of CPU and ~520 MiB (traced) here.
    assert peak < 4 * 1024**2
    assert seconds < 1.0


# torch.export archives that run code ------------------------------------------------------


def _load_with_plain_torch(path: Path) -> subprocess.CompletedProcess:
    """torch.export.load and one forward pass in a fresh interpreter, outside any sandbox."""
    program = (
        "import sys, torch\n"
        "module = torch.export.load(sys.argv[1]).module()\n"
        f"print(tuple(module(torch.rand(3, {', '.join(map(str, models.INPUT_SHAPE))})).shape))\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TORCH_FORCE")}
    return subprocess.run(
        [sys.executable, "-c", program, str(path)], capture_output=True, text=True, env=environment, timeout=300
    )


@pytest.mark.parametrize("attack", archives.EXPORT_ATTACKS)
def test_the_export_attacks_really_run_code_when_torch_loads_them(attack: str, canaries: Canaries, tmp_path: Path):
    build, _ = archives.EXPORT_ATTACKS[attack]
    path = build(tmp_path / "upload", canaries.write_target)

    result = _load_with_plain_torch(path)

    # The payload ran, and the model still loaded and answered as if nothing had happened.
    assert canaries.write_target.exists()
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"(3, {models.N_CLASSES})" in result.stdout


@pytest.mark.parametrize("attack", archives.EXPORT_ATTACKS)
def test_the_upload_checks_refuse_each_export_attack_with_its_reason(attack: str, canaries: Canaries, tmp_path: Path):
    build, words = archives.EXPORT_ATTACKS[attack]
    path = build(tmp_path / "upload", canaries.write_target)

    with pytest.raises(ModelFileError) as caught:
        inspect_model_file(path, max_bytes=UPLOAD_CAP)

    for word in words:
        assert word in str(caught.value)
    canaries.assert_untouched()


def test_the_upload_checks_refuse_native_code_in_an_export_archive(tmp_path: Path):
    path = archives.build_export_with_native_code(tmp_path / "upload")

    with pytest.raises(ModelFileError, match=r"compiled native code \(AOTInductor\)"):
        inspect_model_file(path, max_bytes=UPLOAD_CAP)


PICKLE_ATTACKS = ["pickled sample inputs", "a pickled weight", "an opaque constant"]


@pytest.mark.parametrize("attack", PICKLE_ATTACKS)
def test_the_sandboxed_loader_refuses_pickles_in_an_export_archive_on_its_own(
    attack: str,
    bubblewrap: None,
    canaries: Canaries,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    build, _ = archives.EXPORT_ATTACKS[attack]
    path = build(tmp_path / "upload", canaries.write_target)

    def format_only(model_path: Path, **_: object) -> ModelFileInfo:
        return ModelFileInfo(format="torch.export", sha256="", size_bytes=0, member_count=0, uncompressed_bytes=0)

    # SandboxedModel repeats the upload checks, which refuse this file before any child
    # starts; without them the child's own loader is all that stands between the payload and
    # a model that loads and scores as if nothing had happened.
    monkeypatch.setattr(process, "inspect_model_file", format_only)
    with pytest.raises(EvaluationError) as caught:
        with SandboxedModel(path, limits=ATTACK_LIMITS, allow_unsandboxed=False) as model:
            model.predict(models.normal_inputs(4), n_classes=models.N_CLASSES)

    assert caught.value.code == "model_load_failed", str(caught.value)
    canaries.assert_untouched()


def test_a_normal_export_archive_is_accepted_and_scores_in_the_sandbox(bubblewrap: None, tmp_path: Path):
    path = models.build_normal_model(tmp_path, model_format="torch.export")

    assert inspect_model_file(path, max_bytes=UPLOAD_CAP).format == "torch.export"
    assert_normal_model_scores(path)


def test_torchscripts_loader_refuses_a_pickle_calling_outside_torch(canaries: Canaries, tmp_path: Path):
    # TorchScript archives are not scanned at upload: torch.jit.load unpickles data.pkl with
    # its own restricted unpickler, which resolves only torch's types.
    path = archives.build_torchscript_calling_eval(tmp_path / "upload", canaries.write_target)
    assert inspect_model_file(path, max_bytes=UPLOAD_CAP).format == "torchscript"
    program = "import sys, torch\ntorch.jit.load(sys.argv[1])\n"

    result = subprocess.run([sys.executable, "-c", program, str(path)], capture_output=True, text=True, timeout=300)

    assert result.returncode != 0
    assert "Unknown type name '__builtin__.eval'" in result.stderr
    canaries.assert_untouched()
