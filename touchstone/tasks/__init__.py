"""What the site runs in the background, and the only code that queues it.

Views, admin actions and management commands call the functions here when what they do has
follow-up work (an upload to evaluate, a board to recompute); domain code (``services``,
``scoring``, ``boards``) only changes rows and reports what it did, and never queues anything.
Every message is published once its transaction commits, so a worker never looks for a row
that is not there yet.

The code is in the package's modules: ``evaluations`` (the messages of evaluations and
recomputes, and the tasks that run them), ``changes`` (withdrawals, restorations, publications),
``periodic`` (the sweeps and upkeep beat runs), ``watchdog`` (each worker's own passes) and
``health`` (the broker check). Everything public is imported here, the one path the rest of the
site uses. Importing the package (``touchstone.celery`` does) registers every task and connects
the watchdog's start to the worker. Task names stay ``touchstone.tasks.<function>``, whichever
module defines the function: messages already queued and the beat schedule name tasks so.
"""

from touchstone.tasks.changes import connect_signals, reevaluate_on_publish, restore, withdraw
from touchstone.tasks.evaluations import (
    RECOVERY_PRIORITY,
    dispatch_background,
    evaluate_submission,
    publish_evaluation,
    queue_background,
    queue_evaluation,
    queue_recompute,
    queue_recovered_evaluation,
    recompute_leaderboard,
)
from touchstone.tasks.health import broker_problem
from touchstone.tasks.periodic import (
    check_baselines,
    check_pinned_baseline,
    check_sandbox_health,
    clean_uploads,
    publish_unsent_evaluations,
    refresh_stale_leaderboards,
    requeue_stalled_submissions,
)
from touchstone.tasks.watchdog import (
    first_sandbox_probe,
    record_this_worker,
    running_submission_ids,
    start_watchdog,
    watchdog_pass,
)

__all__ = [
    "RECOVERY_PRIORITY",
    "broker_problem",
    "check_baselines",
    "check_pinned_baseline",
    "check_sandbox_health",
    "clean_uploads",
    "connect_signals",
    "dispatch_background",
    "evaluate_submission",
    "first_sandbox_probe",
    "publish_evaluation",
    "publish_unsent_evaluations",
    "queue_background",
    "queue_evaluation",
    "queue_recompute",
    "queue_recovered_evaluation",
    "recompute_leaderboard",
    "record_this_worker",
    "reevaluate_on_publish",
    "refresh_stale_leaderboards",
    "requeue_stalled_submissions",
    "restore",
    "running_submission_ids",
    "start_watchdog",
    "watchdog_pass",
    "withdraw",
]
