"""The Celery application; configuration is read from Django settings (``CELERY_*``)."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_init
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "touchstone.settings")

app = Celery("touchstone")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Every task lives in the touchstone.tasks package, the one place that queues work.
app.autodiscover_tasks(["touchstone"])


@worker_init.connect(dispatch_uid="touchstone.celery.lower_worker_priority")
def lower_worker_priority(**kwargs: object) -> None:
    """Run the worker, and the pool processes it starts, at ``settings.WORKER_NICENESS``.

    On a machine it shares with the web server, scoring is background work and pages come first:
    at niceness 5 the kernel gives the worker about a third of the web server's share of a busy
    processor, and the sandboxed model, at niceness 10 under SCHED_BATCH, less again. Alone on its
    machine a worker loses nothing. The niceness is only ever raised, never lowered.
    """
    wanted = settings.WORKER_NICENESS
    if wanted > os.getpriority(os.PRIO_PROCESS, 0):
        os.setpriority(os.PRIO_PROCESS, 0, wanted)
