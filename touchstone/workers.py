"""The command line of a Celery worker of the site, written once for ``make run`` and the tests.

``scripts/run_site.py`` starts the worker ``make run`` keeps running, and the tests that start
real services start theirs with the same flags, so a worker under test is the worker that is
shipped. Nothing here imports Celery or Django: a supervisor builds the command without loading
the site.
"""

from __future__ import annotations

import sys

# The evaluations have a queue of their own (``CELERY_TASK_ROUTES``); a site's worker takes both.
QUEUES = "evaluation,default"


def worker_command(
    *,
    beat: bool = False,
    hostname: str | None = None,
    concurrency: int = 1,
    cluster_events: bool = True,
    python: str = sys.executable,
) -> list[str]:
    """The command that starts one Celery worker of the site on both of its queues.

    ``beat`` also runs the periodic tasks in the worker (one such worker per site).
    ``hostname`` is the worker's node name (Celery's ``-n``, e.g. ``w1@%h``), needed when several
    workers share a host. ``concurrency`` is the number of pool processes, each running one
    evaluation at a time. ``cluster_events=False`` leaves out gossip, mingle and heartbeats, the
    exchanges between workers that a lone worker under test does not need and that slow its start.
    The process's environment (database, broker, data folder) is the caller's to give.
    """
    command = [python, "-m", "celery", "-A", "touchstone", "worker"]
    if beat:
        command.append("--beat")
    if hostname:
        command += ["-n", hostname]
    command += ["-Q", QUEUES, "--concurrency", str(concurrency), "--loglevel", "INFO"]
    if not cluster_events:
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    return command
