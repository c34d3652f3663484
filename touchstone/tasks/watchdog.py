"""Each worker's watchdog thread: its record for the status page, and the passes it runs
on its own, beat or no beat."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from celery.signals import worker_ready
from celery.worker import state as worker_state
from django import db
from django.conf import settings

from touchstone.submissions.health import latest_health, probe_and_record
from touchstone.submissions.workers import forget_workers, record_worker
from touchstone.tasks.evaluations import evaluate_submission
from touchstone.tasks.periodic import (
    publish_unsent_evaluations,
    refresh_stale_leaderboards,
    requeue_stalled_submissions,
)

# Every module of the package logs under one name, the one operators already filter on.
logger = logging.getLogger("touchstone.tasks")


def watchdog_pass() -> None:
    """What every worker checks on its own, beat or no beat: runs whose worker stopped answering
    (and messages lost with it), uploads accepted while the broker was down, and boards left
    behind by a lost recompute message."""
    requeue_stalled_submissions()
    publish_unsent_evaluations()
    refresh_stale_leaderboards()


def running_submission_ids() -> list[int]:
    """The submissions whose evaluation this worker process is executing now (Celery's own count)."""
    ids = []
    for request in list(worker_state.active_requests):
        if request.task_name == evaluate_submission.name and request.args:
            ids.append(int(request.args[0]))
    return ids


def record_this_worker(*, name: str, concurrency: int) -> None:
    """Write this worker's record for the status page, and forget workers silent for long."""
    record_worker(
        name=name,
        hostname=socket.gethostname(),
        pid=os.getpid(),
        concurrency=concurrency,
        submission_ids=running_submission_ids(),
    )
    forget_workers()


def first_sandbox_probe() -> None:
    """Probe the sandbox once when no probe is recorded yet, so ``/healthz`` need not wait for beat."""
    try:
        if latest_health() is None:
            probe_and_record()
    except Exception:
        logger.exception("the first sandbox probe could not run")
    finally:
        db.connection.close()


def _watchdog_loop(every: float, identity: dict | None = None) -> None:
    # The probe runs a model in the sandbox, seconds or more on a busy machine: on a thread of its
    # own, so that the first passes (a run lost while this worker started) do not wait for it.
    threading.Thread(target=first_sandbox_probe, name="touchstone-first-probe", daemon=True).start()
    while True:
        if identity is not None:
            try:
                record_this_worker(**identity)
            except Exception:
                logger.exception("the worker's record could not be written")
        time.sleep(every)
        try:
            watchdog_pass()
        except Exception:
            # The database or the broker may be restarting; the next pass tries again.
            logger.exception("the watchdog's pass failed")
        finally:
            db.connection.close()


@worker_ready.connect(dispatch_uid="touchstone.tasks.start_watchdog")
def start_watchdog(sender=None, **kwargs) -> None:
    """Start the worker's watchdog thread (in the worker's main process, so a pool child that
    dies does not take it along); ``WATCHDOG_SECONDS`` = 0 leaves it off."""
    every = settings.WATCHDOG_SECONDS
    if every > 0:
        # Several workers may share a host and a node name: the process id tells them apart.
        node = getattr(sender, "hostname", None) or f"celery@{socket.gethostname()}"
        controller = getattr(sender, "controller", None)
        identity = {
            "name": f"{node} (pid {os.getpid()})",
            "concurrency": int(getattr(controller, "concurrency", None) or 1),
        }
        threading.Thread(target=_watchdog_loop, args=(every, identity), name="touchstone-watchdog", daemon=True).start()
        logger.info(
            "watchdog started: every %.0f s, runs silent for %.0f s are taken over",
            every,
            settings.HEARTBEAT_STALE_SECONDS,
        )
