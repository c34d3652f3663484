"""The Celery broker's transport options and the schedule of the periodic tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from touchstone.env import env_float


def broker_transport_options(broker_url: str, broker_dir: Path, *, visibility_timeout: int) -> dict[str, Any]:
    """``CELERY_BROKER_TRANSPORT_OPTIONS`` for the broker at ``broker_url``.

    The embedded broker (``filesystem://``) keeps its messages in folders under ``broker_dir``,
    made here, polled every 50 ms (the default polling interval of one second makes every task
    wait about a second). With Redis, a message not acknowledged within ``visibility_timeout``
    seconds is delivered again.
    """
    if not broker_url.startswith("filesystem"):
        return {"visibility_timeout": visibility_timeout}
    for folder in ("queue", "processed", "control", "error"):
        (broker_dir / folder).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(broker_dir / "queue"),
        "data_folder_out": str(broker_dir / "queue"),
        "processed_folder": str(broker_dir / "processed"),
        "control_folder": str(broker_dir / "control"),
        "error_folder": str(broker_dir / "error"),
        "store_processed": False,
        "polling_interval": 0.05,
    }


def beat_schedule(*, publish_unsent_seconds: float) -> dict[str, dict[str, Any]]:
    """``CELERY_BEAT_SCHEDULE``: each periodic task by name, and how often beat sends it.

    The names are the tasks' (``touchstone.tasks``), which queued messages also carry.
    """
    sweep_seconds = env_float("TOUCHSTONE_SWEEP_SECONDS", 300.0, minimum=1.0)
    return {
        "requeue-stalled-runs": {"task": "touchstone.tasks.requeue_stalled_submissions", "schedule": sweep_seconds},
        "refresh-stale-leaderboards": {
            "task": "touchstone.tasks.refresh_stale_leaderboards",
            "schedule": sweep_seconds,
        },
        "publish-unsent-evaluations": {
            "task": "touchstone.tasks.publish_unsent_evaluations",
            "schedule": publish_unsent_seconds,
        },
        "clean-uploads": {
            "task": "touchstone.tasks.clean_uploads",
            "schedule": env_float("TOUCHSTONE_JANITOR_SECONDS", 3600.0, minimum=60.0),
        },
        "check-baselines": {
            "task": "touchstone.tasks.check_baselines",
            "schedule": env_float("TOUCHSTONE_BASELINE_CHECK_SECONDS", 3600.0, minimum=60.0),
        },
        "check-sandbox-health": {
            "task": "touchstone.tasks.check_sandbox_health",
            "schedule": env_float("TOUCHSTONE_SANDBOX_HEALTH_SECONDS", 600.0, minimum=30.0),
        },
    }
