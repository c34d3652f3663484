"""The workers' own records, for the status page."""

from __future__ import annotations

from django.db import models


class WorkerRecord(models.Model):
    """A worker as it last described itself: written by its watchdog thread every few seconds.

    ``last_seen_at`` is the database's clock, so whether a worker went quiet is decided the
    way a run's heartbeat is, whatever the hosts' clocks say. ``current_runs`` holds the ids of
    the evaluation runs the worker was executing at that moment. Host name and process id are
    for staff: the status page shows maintainers neither.
    """

    name = models.CharField(max_length=200, unique=True, help_text="The worker's node name, unique per process.")
    hostname = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    concurrency = models.PositiveIntegerField(default=1)
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    current_runs = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
