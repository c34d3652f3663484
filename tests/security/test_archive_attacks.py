"""Malicious uploads that the upload checks refuse before anything is stored or loaded.

Each file goes through ``inspect_model_file`` (the upload path) and, where the upload check
is not about the upload cap, through ``SandboxedModel`` too, which repeats the checks before
handing anything to torch. Nothing is ever unpickled: the pickle canary is never created.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from evaluation.archive import inspect_model_file
from evaluation.errors import ModelFileError
from evaluation.sandbox import SandboxedModel
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
def test_the_upload_checks_refuse_the_archive_and_so_does_the_sandbox(
    attack: str, canaries: Canaries, tmp_path: Path
):
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
