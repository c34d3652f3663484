"""Who may take each life-cycle action, and that a refused action changes nothing."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from touchstone.benchmarks.models import Benchmark, BenchmarkVersion
from touchstone.benchmarks.services import create_draft
from touchstone.storage import private_root
from touchstone.submissions.models import Submission

from .conftest import upload
from .lifecycle_fixture import next_folder, stored_files

ROLES = ("anonymous", "researcher", "other_maintainer", "maintainer", "staff")
ALLOWED = {"anonymous": False, "researcher": False, "other_maintainer": False, "maintainer": True, "staff": True}


def zipped(folder) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in ("benchmark.toml", "dev.npz", "test.npz"):
            archive.write(folder / name, f"{folder.name}/{name}")
    return SimpleUploadedFile("next.zip", buffer.getvalue(), content_type="application/zip")


@pytest.fixture
def world(version, digits_folder, tmp_path):
    users = get_user_model().objects
    maintainer = users.create_user("mia", "mia@example.org")
    other = users.create_user("otto", "otto@example.org")
    staff = users.create_user("sam", "sam@example.org", is_staff=True)
    researcher = users.create_user("ada", "ada@example.org")
    version.benchmark.maintainers.add(maintainer)
    Benchmark.objects.create(slug="other", title="Other").maintainers.add(other)
    draft = create_draft(folder=next_folder(digits_folder, tmp_path / "draft"))
    users_by_role = {"researcher": researcher, "other_maintainer": other, "maintainer": maintainer, "staff": staff}
    return {"version": version, "draft": draft, "users": users_by_role, "folder": digits_folder, "tmp": tmp_path}


def client_for(world, role: str) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(world["users"][role])
    return client


def state() -> tuple:
    versions = BenchmarkVersion.objects.order_by("pk").values_list(
        "pk", "status", "published_at", "frozen_at", "deprecated_at", "content_hash"
    )
    return list(versions), stored_files(private_root())


def act(world, action: str, client: Client):
    version, draft = world["version"], world["draft"]
    if action == "create_draft":
        folder = next_folder(world["folder"], world["tmp"] / "digits-1.2.0", version="1.2.0", changelog="More.")
        return client.post(reverse("front:new-draft", args=["digits"]), {"folder": zipped(folder)})
    if action == "view_draft":
        return client.get(reverse("front:review", args=["digits", draft.version]))
    target = version if action in {"freeze", "deprecate"} else draft
    name = {"publish": "front:publish", "freeze": "front:freeze", "deprecate": "front:deprecate"}.get(
        action, "front:discard"
    )
    return client.post(reverse(name, args=["digits", target.version]))


def took_effect(world, action: str, response) -> bool:
    version, draft = world["version"], world["draft"]
    version.refresh_from_db()
    if action == "create_draft":
        return BenchmarkVersion.objects.filter(version="1.2.0", status="draft").exists()
    if action == "view_draft":
        return response.status_code == 200 and 'id="review"' in response.content.decode()
    if action == "discard_draft":
        return not BenchmarkVersion.objects.filter(pk=draft.pk).exists()
    if action == "publish":
        draft.refresh_from_db()
        return draft.status == "published"
    return version.status == {"freeze": "frozen", "deprecate": "deprecated"}[action]


ACTIONS = ("create_draft", "view_draft", "publish", "freeze", "deprecate", "discard_draft")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ACTIONS)
def test_each_life_cycle_action_is_allowed_to_maintainers_and_staff_only(world, action, role):
    before = state()
    response = act(world, action, client_for(world, role))
    if ALLOWED[role]:
        assert response.status_code in {200, 302}, response.content.decode()[:500]
        assert took_effect(world, action, response)
        return
    if role == "anonymous":
        assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))
    else:
        assert response.status_code == 403
    assert not took_effect(world, action, response)
    assert state() == before


def test_status_changes_need_a_post(world):
    client = client_for(world, "maintainer")
    for name in ("front:publish", "front:discard"):
        assert client.get(reverse(name, args=["digits", world["draft"].version])).status_code == 405
    for name in ("front:freeze", "front:deprecate"):
        assert client.get(reverse(name, args=["digits", world["version"].version])).status_code == 405
    assert world["draft"].status == "draft" and BenchmarkVersion.objects.get(pk=world["version"].pk).is_open


def test_the_version_page_shows_life_cycle_buttons_to_maintainers_only(world):
    url = world["version"].get_absolute_url()
    for role in ROLES:
        page = client_for(world, role).get(url).content.decode()
        assert ('id="freeze-button"' in page) is ALLOWED[role], role
        assert ('id="deprecate-button"' in page) is ALLOWED[role], role
        assert (reverse("front:review", args=["digits", "1.1.0"]) in page) is ALLOWED[role], role


def test_the_review_page_disables_publishing_with_the_reason_when_a_check_fails(world, settings):
    settings.MIN_PART_ITEMS = 400
    client = client_for(world, "maintainer")
    page = client.get(reverse("front:review", args=["digits", "1.1.0"])).content.decode()
    assert 'id="publish-button" disabled' in page
    assert "Publishing is disabled: the feedback part holds 323 items, fewer than the minimum of 400" in page
    response = client.post(reverse("front:publish", args=["digits", "1.1.0"]))
    assert response.status_code == 302
    world["draft"].refresh_from_db()
    assert world["draft"].status == "draft"


def test_the_review_page_shows_the_diff_changelog_sizes_and_hashes(world):
    page = client_for(world, "maintainer").get(reverse("front:review", args=["digits", "1.1.0"])).content.decode()
    assert 'id="review-passed"' in page
    assert 'id="publish-button"' in page and 'id="publish-button" disabled' not in page
    assert "Relabelled one item." in page
    assert "<code>version</code></td><td>1.0.0</td><td>1.1.0</td>" in page
    assert 'id="review-sizes"' in page and "<td>feedback</td><td>323</td><td>100</td>" in page
    assert world["draft"].file_hashes["test.npz"][:16] in page
    assert 'id="review-no-exposed"' in page


def test_an_admin_cannot_edit_a_versions_status(world):
    root = get_user_model().objects.create_superuser("root", "root@example.org", "a-long-password-9")
    client = Client()
    client.force_login(root)
    version = world["version"]
    url = f"/admin/benchmarks/benchmarkversion/{version.pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="status"' not in page
    client.post(url, {"status": "frozen", "title": version.title, "description": version.description})
    version.refresh_from_db()
    assert version.status == "published" and version.frozen_at is None
    assert client.get("/admin/benchmarks/benchmarkversion/add/").status_code == 403


def test_an_admin_cannot_edit_a_submissions_status_owner_team_version_or_scores(world, good_model_bytes):
    from touchstone.submissions.services import submit_model

    root = get_user_model().objects.create_superuser("root", "root@example.org", "a-long-password-9")
    researcher = world["users"]["researcher"]
    submission = submit_model(
        owner=researcher, version=world["version"], uploaded_file=upload(good_model_bytes), model_name="m"
    )
    client = Client()
    client.force_login(root)
    url = f"/admin/submissions/submission/{submission.pk}/change/"
    page = client.get(url).content.decode()
    for field in ("status", "owner", "team", "version", "scored_at", "is_baseline", "counts_against_quota"):
        assert f'name="{field}"' not in page, field
    assert 'name="model_name"' in page
    client.post(
        url,
        {
            "model_name": "renamed",
            "status": "scored",
            "owner": root.pk,
            "team": "root",
            "is_baseline": "on",
            "metric_results-TOTAL_FORMS": "0",
            "metric_results-INITIAL_FORMS": "0",
            "runs-TOTAL_FORMS": "0",
            "runs-INITIAL_FORMS": "0",
        },
    )
    submission.refresh_from_db()
    assert submission.model_name == "renamed"
    assert (submission.status, submission.owner_id, submission.team, submission.is_baseline) == (
        "queued",
        researcher.pk,
        researcher.username,
        False,
    )
    assert Submission.objects.count() == 1
