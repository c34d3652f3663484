"""The Celery application; configuration is read from Django settings (``CELERY_*``)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "touchstone.settings")

app = Celery("touchstone")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Every task lives in the touchstone.tasks package, the one place that queues work.
app.autodiscover_tasks(["touchstone"])
