"""``/healthz``: whether this site can accept and evaluate submissions, for load balancers and people.

It answers 200 when every check passes and 503 naming the failing checks otherwise, always with
the same JSON body: each check's outcome and a sentence, and the queue's length and the age of
its oldest row (for monitoring; a long queue is not a failure). The checks are:

- ``database``: a query answers;
- ``broker``: the workers' queue takes connections (``touchstone.tasks.broker_problem``);
- ``storage``: private storage (model files, hidden splits, outcomes; a folder or a bucket) can
  be written, read back and deleted (a small probe object);
- ``sandbox``: the last health probe the workers recorded passed. None recorded yet fails: a
  site whose sandbox was never tried cannot say it evaluates uploads (a worker probes once when
  it starts, and ``manage.py check_sandbox`` probes at once).
"""

from __future__ import annotations

import time
from typing import Any

from django.db import DatabaseError, connection
from django.db.models import Min
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from touchstone.storage import probe
from touchstone.submissions.health import latest_health
from touchstone.submissions.models import Submission
from touchstone.tasks import broker_problem


def _check(ok: bool, detail: str) -> dict[str, Any]:
    return {"ok": ok, "detail": detail}


def _database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        return _check(False, f"the database does not answer ({type(error).__name__})")
    return _check(True, f"{connection.vendor} answers")


def _broker() -> dict[str, Any]:
    problem = broker_problem()
    return _check(problem is None, problem or "the broker takes connections")


def _storage() -> dict[str, Any]:
    try:
        probe()
    except Exception as error:
        # Any failure counts (an unreachable bucket raises botocore's errors, not OSError); the
        # error's type is shown, its text may name hosts and paths.
        return _check(False, f"private storage cannot be written and read back ({type(error).__name__})")
    return _check(True, "private storage can be written and read back")


def _sandbox() -> dict[str, Any]:
    health = latest_health()
    if health is None:
        return _check(
            False,
            "no sandbox probe recorded yet: a worker runs one when it starts, `manage.py check_sandbox` runs one now",
        )
    if not health.ok:
        # The probe's own words may name host paths: they are in the workers' log and the admin.
        return _check(False, "the last sandbox probe failed; `manage.py check_sandbox` shows why")
    return _check(True, f"the last sandbox probe passed (layers: {', '.join(health.layers) or 'none'})")


def _queue() -> dict[str, Any]:
    try:
        queued = Submission.objects.filter(status=Submission.Status.QUEUED)
        found = queued.aggregate(oldest=Min("created_at"))
        length = queued.count()
    except DatabaseError:
        return {"length": None, "oldest_queued_seconds": None}
    oldest = found["oldest"]
    age = None if oldest is None else round((timezone.now() - oldest).total_seconds(), 1)
    return {"length": length, "oldest_queued_seconds": age}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    started = time.monotonic()
    checks = {"database": _database(), "broker": _broker(), "storage": _storage(), "sandbox": _sandbox()}
    failing = [name for name, outcome in checks.items() if not outcome["ok"]]
    body = {
        "status": "failing" if failing else "ok",
        "failing": failing,
        "checks": checks,
        "queue": _queue() if checks["database"]["ok"] else {"length": None, "oldest_queued_seconds": None},
        "seconds": round(time.monotonic() - started, 3),
    }
    return JsonResponse(body, status=503 if failing else 200)
