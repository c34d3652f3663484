"""A run whose process is gone from the watchdog's own machine is taken over at once, without
waiting for its heartbeat to go stale; nothing else is judged that way.

The processes are real: children this test starts, ends, and leaves unreaped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from django.db.models.functions import Now

from tests.touchstone.conftest import silence, upload
from touchstone import tasks
from touchstone.submissions.models import EvaluationRun, Submission
from touchstone.submissions.processes import machine_key, process_is_gone, process_key
from touchstone.submissions.queueing import unpublished_uploads
from touchstone.submissions.runs import beat, requeue_lost_runs, start_run
from touchstone.submissions.services import submit_model

pytestmark = pytest.mark.skipif(
    not machine_key(), reason="this machine's /proc does not tell boot id and pid namespace"
)


def sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def ended_process_key() -> str:
    """The key of a real process that has ended and been reaped."""
    child = sleeper()
    key = process_key(child.pid)
    child.kill()
    child.wait()
    return key


def test_a_process_key_names_this_machine_and_the_process_start():
    key = process_key()
    machine, pid, started = key.rsplit("/", 2)
    assert machine == machine_key() and int(pid) == os.getpid() and started.isdigit()
    assert not process_is_gone(key)


def test_a_process_is_gone_once_it_ended_even_unreaped_and_not_when_stopped():
    child = sleeper()
    key = process_key(child.pid)
    try:
        assert key and not process_is_gone(key)
        # Stopped is not gone: a paused worker is its heartbeat's to judge.
        os.kill(child.pid, signal.SIGSTOP)
        assert not process_is_gone(key)
        os.kill(child.pid, signal.SIGKILL)
        # Not reaped yet: a zombie has ended.
        deadline = time.monotonic() + 10
        while not process_is_gone(key) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert process_is_gone(key)
    finally:
        child.kill()
        child.wait()
    # Reaped: the pid is free.
    assert process_is_gone(key)


def test_a_pid_held_by_a_later_process_is_gone_and_foreign_or_broken_keys_never_are():
    machine, pid, started = process_key().rsplit("/", 2)
    # This very pid, started at another moment: a reused pid, so the process named has ended.
    assert process_is_gone(f"{machine}/{pid}/{int(started) + 1}")
    boot, namespace = machine.split("/")
    other_boot = "0" * len(boot)
    for key in (
        f"{other_boot}/{namespace}/{pid}/{int(started) + 1}",  # another machine or boot
        f"{boot}/pid:[1]/{pid}/{int(started) + 1}",  # another pid namespace (a container)
        f"{machine}/0/{started}",  # pid 0 would name our own process group
        f"{machine}/-1/{started}",
        f"{machine}/{pid}",
        "",
        "garbage",
    ):
        assert not process_is_gone(key), key


def running(version, researcher, good_model_bytes, name: str) -> tuple[Submission, EvaluationRun]:
    submission = submit_model(
        owner=researcher, version=version, uploaded_file=upload(good_model_bytes), model_name=name, team=name
    )
    Submission.objects.filter(pk=submission.pk).update(dispatched_at=Now())
    run = start_run(submission.pk)
    assert run is not None and run.process == process_key()
    return submission, run


def test_the_watchdog_takes_over_at_once_a_run_whose_process_ended_and_leaves_the_others(
    version, researcher, good_model_bytes, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.HEARTBEAT_STALE_SECONDS = 3600
    lost, lost_run = running(version, researcher, good_model_bytes, "lost")
    alive, alive_run = running(version, researcher, good_model_bytes, "alive")
    elsewhere, elsewhere_run = running(version, researcher, good_model_bytes, "elsewhere")
    dead = ended_process_key()
    EvaluationRun.objects.filter(pk=lost_run.pk).update(process=dead)
    # The same ended process, seen from another machine: never judged from here.
    boot, rest = dead.split("/", 1)
    EvaluationRun.objects.filter(pk=elsewhere_run.pk).update(process=f"{'f' * len(boot)}/{rest}")

    published: list[tuple[int, int | None]] = []
    monkeypatch.setattr(
        tasks.evaluate_submission, "apply_async", lambda args, priority=None: published.append((args[0], priority))
    )
    monkeypatch.setattr(tasks.evaluate_submission, "delay", lambda pk: published.append((pk, None)))
    with django_capture_on_commit_callbacks(execute=True):
        tasks.watchdog_pass()
        tasks.watchdog_pass()
    # Every heartbeat is fresh: only the ended process's run was taken over, once, ahead of the queue.
    assert published == [(lost.pk, tasks.RECOVERY_PRIORITY)]
    row = Submission.objects.get(pk=lost.pk)
    assert (row.status, row.current_run_id) == ("queued", None)
    assert row.progress_message == "requeued after its worker's process ended"
    assert row.dispatched_at is not None, "the message was sent and recorded as sent"
    assert EvaluationRun.objects.get(pk=lost_run.pk).outcome == "superseded"
    assert not beat(lost_run), "the lost run, were it still writing, is fenced out"
    for submission, run in ((alive, alive_run), (elsewhere, elsewhere_run)):
        row = Submission.objects.get(pk=submission.pk)
        assert (row.status, row.current_run_id) == ("running", run.pk)
        assert EvaluationRun.objects.get(pk=run.pk).outcome == ""
    # The next run takes the row, and records its own process.
    again = start_run(lost.pk)
    assert again is not None and again.attempt == 2 and again.process == process_key()


def test_a_takeover_whose_message_was_never_sent_is_sent_by_the_unsent_upload_pass(
    version, researcher, good_model_bytes, settings
):
    """The watchdog stopped between moving the row and sending its message: the row says so,
    and the unsent-upload pass sends it once the grace has passed, not the lost-message check."""
    settings.HEARTBEAT_STALE_SECONDS = 3600
    submission, run = running(version, researcher, good_model_bytes, "unsent")
    EvaluationRun.objects.filter(pk=run.pk).update(process=ended_process_key())
    assert requeue_lost_runs() == [submission.pk]
    row = Submission.objects.get(pk=submission.pk)
    assert row.status == "queued" and row.dispatched_at is None
    assert submission.pk not in unpublished_uploads(older_than_seconds=60), "the watchdog's own send comes first"
    assert submission.pk in unpublished_uploads(older_than_seconds=0)
    assert requeue_lost_runs() == [], "moved once"


def test_a_message_handed_out_again_takes_over_a_run_whose_process_ended(
    version, researcher, good_model_bytes, settings
):
    """Celery hands out again at once the message of a pool process killed mid-run: that message
    takes the row over, heartbeat fresh or not, once the run's process is gone."""
    settings.HEARTBEAT_STALE_SECONDS = 3600
    submission, run = running(version, researcher, good_model_bytes, "redelivered")
    assert start_run(submission.pk) is None, "a live process keeps its run"
    EvaluationRun.objects.filter(pk=run.pk).update(process=ended_process_key())
    again = start_run(submission.pk)
    assert again is not None and again.attempt == 2
    assert EvaluationRun.objects.get(pk=run.pk).outcome == "superseded"
    assert Submission.objects.get(pk=submission.pk).current_run_id == again.pk
    assert start_run(submission.pk) is None, "the new run's process is alive"
    assert requeue_lost_runs() == []


def test_a_submission_whose_runs_are_lost_again_and_again_ends_failed_and_is_not_started_again(
    version, researcher, good_model_bytes, settings
):
    """A model that makes its worker fail (killed, out of memory) every time cannot keep the
    workers busy forever: after MAX_LOST_RUNS lost runs, whichever path noticed, it ends failed."""
    settings.MAX_LOST_RUNS = 3
    settings.HEARTBEAT_STALE_SECONDS = 30
    submission, run = running(version, researcher, good_model_bytes, "poison")
    # Lost once: noticed by the watchdog (its process ended); queued again.
    EvaluationRun.objects.filter(pk=run.pk).update(process=ended_process_key())
    assert requeue_lost_runs() == [submission.pk]
    # Lost twice: its heartbeat went stale; a message takes it over and runs it a third time.
    run = start_run(submission.pk)
    assert run is not None
    silence(submission, 60)
    third = start_run(submission.pk)
    assert third is not None and third.attempt == 3
    # Lost a third time: given up, not requeued, whichever path notices.
    EvaluationRun.objects.filter(pk=third.pk).update(process=ended_process_key())
    assert requeue_lost_runs() == []
    row = Submission.objects.get(pk=submission.pk)
    assert (row.status, row.error_code, row.current_run_id, row.counts_against_quota) == (
        "failed",
        "evaluation_lost",
        None,
        True,
    )
    assert "started 3 times" in row.error_message
    assert list(row.runs.values_list("outcome", flat=True)) == ["superseded"] * 3
    assert start_run(submission.pk) is None, "a failed row is not taken again"


def test_a_message_that_would_take_over_a_run_lost_once_too_often_ends_the_row_failed(
    version, researcher, good_model_bytes, settings
):
    settings.MAX_LOST_RUNS = 1
    settings.HEARTBEAT_STALE_SECONDS = 30
    submission, _run = running(version, researcher, good_model_bytes, "given up")
    silence(submission, 60)
    assert start_run(submission.pk) is None
    row = Submission.objects.get(pk=submission.pk)
    assert (row.status, row.error_code, row.current_run_id) == ("failed", "evaluation_lost", None)
    assert list(row.runs.values_list("outcome", flat=True)) == ["superseded"]
