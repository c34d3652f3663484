"""Runs inside the real sandbox (standard library only) and reports its CPU priority.

Prints one JSON object: its niceness, whether it runs under SCHED_BATCH, and what happened when
it tried to give itself its normal priority back.
"""

from __future__ import annotations

import json
import os


def main() -> None:
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 0)
        raised = "ok"
    except OSError as error:
        raised = f"errno {error.errno}"
    print(
        json.dumps(
            {
                "niceness": niceness,
                "niceness_after": os.getpriority(os.PRIO_PROCESS, 0),
                "batch": os.sched_getscheduler(0) == os.SCHED_BATCH,
                "raise_attempt": raised,
            }
        )
    )


if __name__ == "__main__":
    main()
