"""A real upload through a real web server, broker and Celery worker."""

from __future__ import annotations

import subprocess
import sys
import time

import psycopg
import pytest

from evaluation.client import ClientError, TouchstoneClient
from tests.services import ROOT, running_site

pytestmark = pytest.mark.services


def wait_for_leaderboard(client: TouchstoneClient, path: str, n_entries: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        board = client._request("GET", path)
        if len(board["entries"]) == n_entries:
            return board
        time.sleep(0.3)
    raise AssertionError(f"the leaderboard did not reach {n_entries} entries: {board}")


def wait_for_entry(client: TouchstoneClient, path: str, submission_id: int, timeout: float = 60) -> dict:
    """The leaderboard entry of a submission, once the recomputation task has stored it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        board = client._request("GET", path)
        for entry in board["entries"]:
            if entry["submission"] == submission_id:
                return entry
        time.sleep(0.3)
    raise AssertionError(f"submission {submission_id} did not reach the leaderboard: {board}")


def test_a_worker_scores_an_upload_on_postgresql_and_redis(production_site, model_files):
    token = production_site.create_researcher("ada")
    client = TouchstoneClient(production_site.url, token)
    created = client.submit(
        benchmark="digits",
        version="1.0.0",
        model_file=model_files["strong"],
        model_name="Centroids",
        paper_url="https://example.org/paper",
    )
    # The answer reads the row after the message is sent: a quick worker may have started it already.
    assert created["status"] in ("queued", "running"), created
    seen = []
    final = client.wait(created["id"], poll_seconds=0.2, timeout=180, on_update=lambda s: seen.append(s["status"]))
    assert final["status"] == "scored", final
    assert "running" in seen or "queued" in seen

    entry = wait_for_entry(client, "benchmarks/digits/versions/1.0.0/leaderboard/", created["id"])
    assert entry["team"] == "ada"
    assert entry["rank_lower"] <= entry["rank"] <= entry["rank_upper"]
    released = client.wait_for_release(created["id"])
    assert released["ladder"]["improved"] is True
    accuracy = released["metrics"]["accuracy"]
    assert 0.8 < accuracy["value"] <= 1.0 and accuracy["ci_low"] <= accuracy["value"] <= accuracy["ci_high"]
    assert entry["metrics"]["accuracy"] == accuracy

    # The rows really are in PostgreSQL.
    with psycopg.connect(production_site.database_url) as connection:
        status = connection.execute(
            "select status from submissions_submission where id = %s", [created["id"]]
        ).fetchone()[0]
    assert status == "scored"
    provenance = client._request("GET", f"submissions/{created['id']}/provenance/")
    assert provenance["artifact"]["sha256"] == final["sha256"]
    assert "bubblewrap" in provenance["sandbox"]["layers"]


def test_a_broken_model_fails_with_its_reason_and_the_worker_goes_on(production_site, model_files):
    token = production_site.create_researcher("grace")
    client = TouchstoneClient(production_site.url, token)
    broken = client.submit(benchmark="digits", version="1.0.0", model_file=model_files["nan"], model_name="NaN")
    good = client.submit(benchmark="digits", version="1.0.0", model_file=model_files["weak"], model_name="Weak")
    failed = client.wait(broken["id"], poll_seconds=0.2, timeout=180)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "malformed_output"
    assert "nan" in failed["error"]["message"].lower()
    assert failed["metrics"] == {}
    assert client.wait(good["id"], poll_seconds=0.2, timeout=180)["status"] == "scored"


def test_the_command_line_client_uploads_and_follows_a_model(production_site, model_files):
    token = production_site.create_researcher("linus")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "evaluation",
            "submit",
            "--server",
            production_site.url,
            "--token",
            token,
            "--benchmark",
            "digits",
            "--version",
            "1.0.0",
            "--model",
            str(model_files["strong"]),
            "--name",
            "From CLI",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert "accuracy" in completed.stdout
    assert "100%" in completed.stderr  # the progress bar reached the end
    # Before uploading, the client said what the upload page says: the quota left and the size limit.
    assert "quota: 5 of 5 submissions left in the last 24 hours; the model file may be at most" in completed.stderr


def test_a_researcher_fetches_the_public_files_and_evaluates_locally(
    production_site, model_files, digits_folder, tmp_path
):
    public = tmp_path / "digits" / "1.0.0"
    fetched = subprocess.run(
        [
            sys.executable,
            "-m",
            "evaluation",
            "fetch",
            "--server",
            production_site.url,
            "--benchmark",
            "digits",
            "--version",
            "1.0.0",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert fetched.returncode == 0, fetched.stderr
    assert "verified" in fetched.stdout
    assert sorted(p.name for p in public.iterdir()) == ["benchmark.toml", "dev.npz", "version.json"]
    assert (public / "dev.npz").read_bytes() == (digits_folder / "dev.npz").read_bytes()
    evaluated = subprocess.run(
        [
            sys.executable,
            "-m",
            "evaluation",
            "evaluate",
            "--benchmark",
            str(public),
            "--model",
            str(model_files["strong"]),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert "accuracy" in evaluated.stdout


def test_the_client_reports_a_refused_upload(production_site, tmp_path):
    token = production_site.create_researcher("barbara")
    not_a_model = tmp_path / "notes.pt"
    not_a_model.write_bytes(b"just some text")
    with pytest.raises(ClientError, match="HTTP 400"):
        TouchstoneClient(production_site.url, token).submit(
            benchmark="digits", version="1.0.0", model_file=not_a_model, model_name="Notes"
        )


def test_the_embedded_default_scores_an_upload_with_sqlite_and_the_filesystem_broker(
    service_folder, digits_folder, model_files
):
    # With the robustness suite on, as the site runs by default.
    suite = {"TOUCHSTONE_EVALUATION_SUITE": "1"}
    with running_site(service_folder / "embedded", benchmarks=[digits_folder], extra_env=suite) as site:
        assert "DATABASE_URL" not in site.env and "CELERY_BROKER_URL" not in site.env
        client = TouchstoneClient(site.url, site.create_researcher("ada"))
        created = client.submit(benchmark="digits", version="1.0.0", model_file=model_files["strong"], model_name="A")
        messages = set()
        final = client.wait(
            created["id"], poll_seconds=0.2, timeout=240, on_update=lambda s: messages.add(s["progress_message"])
        )
        assert final["status"] == "scored", site.log("worker")[-3000:]
        assert any(message.startswith("condition ") and " of " in message for message in messages), messages
        entry = wait_for_entry(client, "benchmarks/digits/versions/1.0.0/leaderboard/", created["id"])
        assert (entry["rank"], entry["rank_lower"], entry["rank_upper"]) == (1, 1, 1)
        # The worker ran the whole suite: the released entry's breakdowns and summary show it.
        breakdowns = client.wait_for_release(created["id"])["breakdowns"]
        assert len(breakdowns["corruptions"]["items"]) >= 6 and breakdowns["adversarial"]["attackable"]
        assert entry["summary"]["corrupted_accuracy"] == breakdowns["corruptions"]["mean_accuracy"]
        assert (site.folder / "data" / "touchstone.sqlite3").exists()
