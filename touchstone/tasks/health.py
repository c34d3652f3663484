"""Whether the broker takes messages, for ``/healthz``."""

from __future__ import annotations

import os

from django.conf import settings
from kombu.exceptions import KombuError

from touchstone.tasks.evaluations import evaluate_submission


def broker_problem(*, timeout: float = 2.0) -> str | None:
    """Why the broker cannot take a message now, in one sentence; None if it can.

    For ``/healthz``: one connection attempt, no retries, so that a broker that is down costs the
    check ``timeout`` seconds at most.
    """
    app = evaluate_submission.app
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
    except (KombuError, OSError) as error:
        # The reason stays in the workers' and web server's logs: this answer is public.
        return f"the broker does not answer ({type(error).__name__})"
    if app.conf.broker_url.startswith("filesystem"):
        # The embedded broker "connects" to anything: what matters is its folder.
        folder = settings.BROKER_DIR / "queue"
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            return "the embedded broker's queue folder is missing or not writable"
    return None
