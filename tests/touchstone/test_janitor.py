"""The janitor removes what interrupted uploads left behind, and never a file a row points to."""

from __future__ import annotations

import os
import time

import pytest
from django.core.management import call_command

from tests.touchstone.conftest import upload
from touchstone.storage import private_path
from touchstone.submissions.services import submit_model
from touchstone.tasks import clean_uploads

TWO_HOURS = 2 * 3600


def age(path, seconds: float) -> None:
    """Make ``path`` and everything under it look ``seconds`` old."""
    when = time.time() - seconds
    items = [path, *path.rglob("*")] if path.is_dir() else [path]
    for item in items:
        os.utime(item, (when, when))


@pytest.fixture
def upload_temp(settings, tmp_path):
    folder = tmp_path / "upload-tmp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    return folder


@pytest.fixture
def leftovers(version, researcher, good_model_bytes, upload_temp):
    """An old scored-or-queued upload, an old orphan, a young orphan, old and young temp files."""
    kept = submit_model(owner=researcher, version=version, uploaded_file=upload(good_model_bytes), model_name="Kept")
    kept_folder = private_path(kept.model_path).parent
    orphan = private_path("submissions/2026/11/" + "a" * 32)
    orphan.mkdir(parents=True)
    (orphan / "model.pt").write_bytes(good_model_bytes)  # a complete model whose row never committed
    partial = private_path("submissions/2026/11/" + "b" * 32)
    partial.mkdir(parents=True)
    (partial / "upload.partial").write_bytes(b"\0" * 1000)  # a copy cut short
    young = private_path("submissions/2026/12/" + "c" * 32)
    young.mkdir(parents=True)
    (young / "upload.partial").write_bytes(b"\0" * 10)  # an upload being written right now
    stale_temp = upload_temp / "tmpabc.upload.pt"
    stale_temp.write_bytes(b"\0" * 100)
    fresh_temp = upload_temp / "tmpdef.upload.pt"
    fresh_temp.write_bytes(b"\0" * 100)
    for path in (kept_folder, orphan, partial, stale_temp):
        age(path, TWO_HOURS)
    return {
        "kept": private_path(kept.model_path),
        "orphan": orphan,
        "partial": partial,
        "young": young,
        "stale_temp": stale_temp,
        "fresh_temp": fresh_temp,
    }


def test_the_command_removes_old_orphans_and_stale_temp_files_only(leftovers):
    call_command("clean_uploads")
    assert not leftovers["orphan"].exists()
    assert not leftovers["partial"].exists()
    assert not leftovers["stale_temp"].exists()
    assert leftovers["young"].exists()
    assert leftovers["fresh_temp"].exists()


def test_it_never_removes_a_file_a_submission_points_to_however_old(leftovers, good_model_bytes):
    removed = clean_uploads()
    assert leftovers["kept"].read_bytes() == good_model_bytes
    assert str(leftovers["kept"].parent) not in removed
    assert sorted(removed) == sorted(str(leftovers[name]) for name in ("orphan", "partial", "stale_temp"))


def test_with_no_age_limit_it_still_keeps_every_file_a_row_points_to(leftovers, good_model_bytes):
    call_command("clean_uploads", "--older-than", "0")
    assert leftovers["kept"].read_bytes() == good_model_bytes
    assert not leftovers["young"].exists()
    assert not leftovers["fresh_temp"].exists()


def test_the_janitor_and_the_publish_pass_are_periodic_tasks_the_workers_know(settings):
    from touchstone.celery import app

    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"touchstone.tasks.clean_uploads", "touchstone.tasks.publish_unsent_evaluations"} <= scheduled
    app.loader.import_default_modules()
    assert scheduled <= set(app.tasks)
