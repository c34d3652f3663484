"""The sandbox's health as the workers last measured it, kept in private storage.

Workers run ``evaluation.sandbox.health.check_sandbox`` periodically and after every failure
that happened before a model was opened, and write the outcome here; the web processes read it
to warn on every page while the sandbox is broken. The file lives in private storage, which all
workers and web servers share.
"""

from __future__ import annotations

import dataclasses
import json
import logging

from django.conf import settings

from evaluation.sandbox.health import SandboxHealth, check_sandbox
from touchstone.storage import read_bytes, write_file_atomically
from touchstone.submissions.limits import sandbox_limits

logger = logging.getLogger(__name__)

HEALTH_FILE = "health/sandbox.json"


def probe_and_record() -> SandboxHealth:
    """Run the probe under the submissions' limits and store its outcome."""
    health = check_sandbox(limits=sandbox_limits(), allow_unsandboxed=settings.ALLOW_UNSANDBOXED_MODELS)
    write_file_atomically(HEALTH_FILE, [json.dumps(dataclasses.asdict(health)).encode()])
    if not health.ok:
        logger.error("the sandbox health probe failed: %s", health.problem)
    return health


def latest_health() -> SandboxHealth | None:
    """The last stored outcome, or None if no probe has run (or its file is unreadable)."""
    try:
        record = json.loads(read_bytes(HEALTH_FILE))
        record["layers"] = tuple(record["layers"])
        return SandboxHealth(**record)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    except Exception:
        # A bucket that does not answer raises its client's errors; every page reads this, and
        # /healthz reports the storage itself, so the pages go on without the warning.
        logger.warning("the sandbox health record cannot be read from private storage", exc_info=True)
        return None
