"""Drafts, their review, the dry run, exposed items, minimum sizes and deprecation."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from evaluation.spec import load_benchmark
from evaluation.version_diff import move_to_dev
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.benchmarks.services import ReviewFailed, create_draft, current_review, publish_draft
from touchstone.benchmarks.signals import version_published
from touchstone.rankings.lifecycle import deprecate, freeze
from touchstone.storage import private_root
from touchstone.submissions.services import SubmissionRejected, submit_model

from .conftest import upload
from .lifecycle_fixture import dev_ids, first_unrevealed, hidden_ids, next_folder, stored_files


@pytest.fixture
def frozen(version, settings):
    # Freezing digits reveals its 755 final-part items; moved to dev, they leave 97 items in the
    # next version's feedback part, under the default minimum (see the test below).
    settings.MIN_PART_ITEMS = 50
    freeze(version=version)
    version.refresh_from_db()
    return version


def test_a_dry_run_prints_the_whole_review_and_writes_nothing(frozen, digits_folder, tmp_path, capsys):
    relabelled = first_unrevealed(frozen)
    folder = next_folder(digits_folder, tmp_path / "next", relabel=relabelled)
    files_before = stored_files(private_root())
    call_command("publish_benchmark", str(folder), "--dry-run")
    out = capsys.readouterr().out
    assert "Validation: passed" in out and "Checks: passed" in out
    assert "Previous version: digits 1.0.0" in out
    assert "Changelog: Relabelled one item." in out
    assert "version: '1.0.0' -> '1.1.0'" in out
    assert f"relabelled {relabelled}:" in out
    assert "Part sizes (minimum 50 each): dev " in out
    exposed = len(hidden_ids(frozen) & set(_final_part(frozen)))
    assert f"Exposed hidden items moved to the dev split: {exposed}" in out
    assert BenchmarkVersion.objects.count() == 1
    assert stored_files(private_root()) == files_before


def _final_part(version) -> set[str]:
    from evaluation.spec import load_benchmark
    from evaluation.version_diff import revealed_item_ids

    return set(revealed_item_ids(load_benchmark(version.folder)))


def test_a_draft_moves_the_items_a_frozen_version_revealed_to_dev_and_stays_private(frozen, digits_folder, tmp_path):
    folder = next_folder(digits_folder, tmp_path / "next")
    draft = create_draft(folder=folder)
    revealed = _final_part(frozen)
    assert draft.status == "draft"
    assert not hidden_ids(draft) & revealed
    assert revealed <= dev_ids(draft)
    assert set(draft.review["moved_to_dev"]) == revealed
    assert draft.review["source_content_hash"] != draft.content_hash
    # A draft is seen by no visitor and no public list.
    client = Client()
    for name in ("front:version", "api:version", "api:dev-split", "api:spec", "api:leaderboard"):
        assert client.get(reverse(name, args=["digits", frozen.version])).status_code == 200
        assert client.get(reverse(name, args=["digits", draft.version])).status_code == 404
    listed = client.get("/api/v1/benchmarks/digits/").json()
    assert [v["version"] for v in listed["versions"]] == ["1.0.0"]
    assert listed["latest_version"] == "1.0.0"


def test_keeping_exposed_items_hidden_is_an_explicit_choice_that_the_review_records(frozen, digits_folder, tmp_path):
    folder = next_folder(digits_folder, tmp_path / "next")
    draft = create_draft(folder=folder, keep_exposed_hidden=True)
    revealed = _final_part(frozen)
    assert revealed <= hidden_ids(draft)
    assert set(draft.review["kept_hidden"]) == revealed and not draft.review["moved_to_dev"]
    review = current_review(draft)
    assert review.ok
    assert any("kept hidden by the maintainer's choice" in warning for warning in review.warnings)


def test_a_draft_whose_items_an_earlier_version_revealed_after_it_was_made_cannot_be_published(
    version, digits_folder, tmp_path
):
    draft = create_draft(folder=next_folder(digits_folder, tmp_path / "next"))
    assert draft.review["moved_to_dev"] == {}
    freeze(version=version)
    with pytest.raises(ReviewFailed, match="made public after it was created"):
        publish_draft(version=draft)
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_after_a_freeze_a_next_version_without_new_hidden_items_is_too_small_to_publish(
    version, digits_folder, tmp_path
):
    freeze(version=version)
    folder = next_folder(digits_folder, tmp_path / "next")
    with pytest.raises(ReviewFailed, match="the feedback part holds 97 items, fewer than the minimum of 100"):
        create_draft(folder=folder)
    assert BenchmarkVersion.objects.count() == 1


def test_a_version_that_publishes_an_open_versions_hidden_items_in_its_dev_split_is_refused_until_it_freezes(
    version, digits_folder, tmp_path, settings
):
    settings.MIN_PART_ITEMS = 50
    moved = sorted(hidden_ids(version))[:3]
    folder = move_to_dev(load_benchmark(next_folder(digits_folder, tmp_path / "next")), moved, tmp_path / "moved").path
    with pytest.raises(
        ReviewFailed, match=r"3 items hidden in digits 1\.0\.0, which is open, are in this version's dev"
    ):
        create_draft(folder=folder)
    assert not BenchmarkVersion.objects.filter(version="1.1.0").exists()
    freeze(version=version)
    draft = create_draft(folder=folder)
    assert set(moved) <= dev_ids(draft) and current_review(draft).ok


def test_every_version_after_the_first_needs_a_changelog(version, digits_folder, tmp_path):
    folder = next_folder(digits_folder, tmp_path / "next", changelog="")
    with pytest.raises(CommandError, match="empty changelog"):
        call_command("publish_benchmark", str(folder))
    assert BenchmarkVersion.objects.count() == 1


def test_a_part_below_the_minimum_size_is_refused_and_nothing_is_stored(db, digits_folder, settings):
    settings.MIN_PART_ITEMS = 400
    with pytest.raises(CommandError, match="the feedback part holds 323 items, fewer than the minimum of 400"):
        call_command("publish_benchmark", str(digits_folder), "--draft")
    assert BenchmarkVersion.objects.count() == 0
    assert not any(path.suffix == ".npz" for path in private_root().rglob("*"))


def test_publishing_a_draft_sends_version_published_with_the_previous_version(
    version, digits_folder, tmp_path, django_capture_on_commit_callbacks
):
    draft = create_draft(folder=next_folder(digits_folder, tmp_path / "next"))
    received = []

    def record(sender, version, previous, **kwargs):
        received.append((version.pk, previous.pk if previous else None))

    version_published.connect(record)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            publish_draft(version=draft)
    finally:
        version_published.disconnect(record)
    draft.refresh_from_db()
    assert draft.status == "published" and draft.published_at is not None
    assert received == [(draft.pk, version.pk)]
    assert draft.benchmark.latest_version == draft


def test_the_draft_command_stores_a_draft_and_prints_its_review(version, digits_folder, tmp_path, capsys):
    call_command("publish_benchmark", str(next_folder(digits_folder, tmp_path / "next")), "--draft")
    out = capsys.readouterr().out
    draft = BenchmarkVersion.objects.get(version="1.1.0")
    assert draft.status == "draft"
    assert "Checks: passed" in out and "/benchmarks/digits/1.1.0/review/" in out


def test_deprecating_an_open_version_freezes_it_first_and_closes_it_for_good(version, good_model_bytes, researcher):
    call_command("deprecate_version", "digits", "1.0.0")
    version.refresh_from_db()
    assert version.status == "deprecated"
    assert version.frozen_at is not None and version.deprecated_at is not None
    assert version.snapshot.part == "final"
    with pytest.raises(SubmissionRejected, match="deprecated"):
        submit_model(owner=researcher, version=version, uploaded_file=upload(good_model_bytes), model_name="late")
    page = Client().get(version.get_absolute_url()).content.decode()
    assert 'id="deprecated-banner"' in page
    compare = Client().get(reverse("front:compare", args=["digits", "1.0.0"])).content.decode()
    assert 'id="deprecated-banner"' in compare
    record = Client().get(reverse("api:version", args=["digits", "1.0.0"])).json()
    assert record["status"] == "deprecated" and record["deprecated_at"] and record["frozen_at"]


def test_a_deprecated_version_refuses_uploads_from_the_form_and_the_api(version, good_model_bytes, researcher):
    deprecate(version=version)
    client = Client()
    client.force_login(researcher)
    response = client.post(
        f"/benchmarks/digits/{version.version}/submit/",
        {"model_file": upload(good_model_bytes), "model_name": "late"},
    )
    assert response.status_code == 200 and 'id="upload-closed"' in response.content.decode()
    assert 'id="upload-closed"' in client.get(f"/benchmarks/digits/{version.version}/submit/").content.decode()
    from .conftest import api_client_for

    api = api_client_for(researcher)
    response = api.post(
        "/api/v1/submissions/",
        {"benchmark": "digits", "version": version.version, "model_file": upload(good_model_bytes), "model_name": "x"},
        format="multipart",
    )
    assert response.status_code in {400, 409}
    assert version.submissions.count() == 0


def test_a_queued_submission_of_a_version_deprecated_meanwhile_is_not_evaluated(version, good_model_bytes, researcher):
    from touchstone.submissions.scoring import score_submission

    submission = submit_model(owner=researcher, version=version, uploaded_file=upload(good_model_bytes), model_name="m")
    deprecate(version=version)
    # Deprecating an open version freezes it first, and the freeze cancels what was in flight.
    assert score_submission(submission_id=submission.pk) == "skipped"
    submission.refresh_from_db()
    assert submission.status == "failed" and submission.error_code == "version_frozen"
    assert not submission.counts_against_quota
    assert not submission.runs.filter(outcome="scored").exists()


def test_discarding_a_draft_deletes_its_row_and_files(
    version, digits_folder, tmp_path, django_capture_on_commit_callbacks
):
    call_command("publish_benchmark", str(next_folder(digits_folder, tmp_path / "next")), "--draft")
    draft = BenchmarkVersion.objects.get(version="1.1.0")
    folder = draft.folder
    assert folder.is_dir()
    from touchstone.benchmarks.services import discard_draft

    with django_capture_on_commit_callbacks(execute=True):
        discard_draft(version=draft)
    assert not BenchmarkVersion.objects.filter(pk=draft.pk).exists()
    assert not folder.exists()


def test_the_draft_command_checks_the_user_it_acts_for(version, digits_folder, tmp_path, researcher):
    folder = next_folder(digits_folder, tmp_path / "next")
    files_before = stored_files(private_root())
    with pytest.raises(CommandError, match="only maintainers of digits"):
        call_command("publish_benchmark", str(folder), "--draft", "--user", researcher.username)
    assert BenchmarkVersion.objects.count() == 1 and stored_files(private_root()) == files_before
    call_command("maintainers", "digits", "--add", researcher.username)
    call_command("publish_benchmark", str(folder), "--draft", "--user", researcher.username)
    draft = BenchmarkVersion.objects.get(version="1.1.0")
    assert draft.status == "draft" and draft.created_by == researcher


def test_the_maintainers_command_adds_lists_and_removes(version, researcher, capsys):
    call_command("maintainers", "digits", "--add", researcher.username)
    assert version.benchmark.is_maintained_by(researcher)
    assert "maintainers of digits: ada" in capsys.readouterr().out
    call_command("maintainers", "digits", "--remove", researcher.username)
    assert not version.benchmark.is_maintained_by(researcher)
    with pytest.raises(CommandError, match="no user 'nobody'"):
        call_command("maintainers", "digits", "--add", "nobody")


def test_publish_draft_publishes_a_stored_draft_after_its_review(version, digits_folder, tmp_path, capsys):
    call_command("publish_benchmark", str(next_folder(digits_folder, tmp_path / "next")), "--draft")
    call_command("publish_draft", "digits", "1.1.0")
    assert BenchmarkVersion.objects.get(version="1.1.0").status == "published"
    assert "Checks: passed" in capsys.readouterr().out
    with pytest.raises(CommandError, match="already published"):
        call_command("publish_draft", "digits", "1.1.0")
