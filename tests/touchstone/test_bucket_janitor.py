"""With a bucket, the janitor removes upload objects no row points to, and never one a row points to."""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command

from tests.object_storage import s3_client, use_new_bucket
from tests.touchstone.conftest import upload
from touchstone.submissions.services import submit_model
from touchstone.tasks import clean_uploads

# Objects written before the pause are older than the grace period the tests ask for; objects
# written after it are younger. The bucket dates objects itself (to the second, rounded down), so
# they cannot be aged by hand and the margins are a second wide.
GRACE_SECONDS = 2.0


def use_a_new_bucket(settings, emulator: str, tmp_path) -> str:
    """Put private storage in a fresh bucket, as a web server of a site with several machines has it."""
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "upload-tmp")
    return use_new_bucket(settings, emulator, tmp_path / "web-server-cache")


@pytest.fixture
def bucket(request, settings, emulator, tmp_path):
    # The digits version, when the test has one, is published locally first: only uploads matter here.
    if "version" in request.fixturenames:
        request.getfixturevalue("version")
    return use_a_new_bucket(settings, emulator, tmp_path)


def stored_keys(endpoint: str, bucket: str) -> set[str]:
    listing = s3_client(endpoint).list_objects_v2(Bucket=bucket)
    return {item["Key"] for item in listing.get("Contents", [])}


@pytest.fixture
def objects(version, researcher, good_model_bytes, emulator, bucket):
    """A submission's model, an orphan model and an orphan partial copy (both old), then a young orphan."""
    client = s3_client(emulator)
    kept = submit_model(owner=researcher, version=version, uploaded_file=upload(good_model_bytes), model_name="Kept")
    orphan = "submissions/2026/11/" + "a" * 32 + "/model.pt"
    client.put_object(Bucket=bucket, Key=orphan, Body=good_model_bytes)  # its web server died before the row
    shallow = "submissions/stray.bin"
    client.put_object(Bucket=bucket, Key=shallow, Body=b"\0" * 10)
    outside = "outcomes/1/run-1.npz"
    client.put_object(Bucket=bucket, Key=outside, Body=b"outcomes")  # not an upload: never the janitor's
    time.sleep(GRACE_SECONDS + 1)
    young = "submissions/2026/12/" + "c" * 32 + "/model.pt"
    client.put_object(Bucket=bucket, Key=young, Body=good_model_bytes)  # a row is being committed right now
    return {"kept": kept.model_path, "orphan": orphan, "shallow": shallow, "outside": outside, "young": young}


def test_it_removes_old_orphan_objects_and_keeps_young_ones_and_those_a_row_points_to(emulator, bucket, objects):
    assert objects["kept"] in stored_keys(emulator, bucket)
    removed = clean_uploads()  # the periodic task, with the grace period below
    assert removed == []  # nothing is an hour old
    call_command("clean_uploads", "--older-than", str(GRACE_SECONDS))
    assert stored_keys(emulator, bucket) == {objects["kept"], objects["outside"], objects["young"]}


def test_it_never_removes_an_object_a_row_points_to_however_old_until_the_row_is_gone(
    emulator, bucket, objects, settings
):
    from touchstone.submissions.models import Submission

    settings.ORPHAN_UPLOAD_SECONDS = GRACE_SECONDS
    removed = clean_uploads()
    assert sorted(removed) == [f"bucket:{objects['orphan']}", f"bucket:{objects['shallow']}"]
    assert objects["kept"] in stored_keys(emulator, bucket)
    assert clean_uploads() == []
    Submission.objects.filter(model_path=objects["kept"]).delete()
    assert clean_uploads() == [f"bucket:{objects['kept']}"]
    assert stored_keys(emulator, bucket) == {objects["outside"], objects["young"]}


def test_with_a_key_prefix_it_cleans_only_its_own_prefix(settings, emulator, bucket, db):
    client = s3_client(emulator)
    own = "site-a/submissions/2026/11/" + "d" * 32 + "/model.pt"
    other = "submissions/2026/11/" + "e" * 32 + "/model.pt"  # another site sharing the bucket
    for key in (own, other):
        client.put_object(Bucket=bucket, Key=key, Body=b"a model without a row")
    private = settings.STORAGES["private"]
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {**private, "OPTIONS": {**private["OPTIONS"], "location": "site-a"}},
    }
    assert clean_uploads() == []
    # With no grace period (the site stopped), its own orphan goes and the other site's stays.
    call_command("clean_uploads", "--older-than", "0")
    assert stored_keys(emulator, bucket) == {other}
