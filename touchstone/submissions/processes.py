"""Which process runs an evaluation, and whether it still runs, told from this machine's ``/proc``.

A run records the process that took it (``EvaluationRun.process``) as
``<boot id>/<pid namespace>/<pid>/<start time>``. A watchdog on the same machine and in the same
pid namespace (the same boot id and namespace) can then tell for certain that the process is
gone: no such pid, a pid now held by a later process (another start time), or a zombie. Such a
run is taken over at the watchdog's next pass instead of after ``HEARTBEAT_STALE_SECONDS`` of
silence (``runs.requeue_lost_runs``).

Nothing here guesses: a process of another machine, container or boot is never judged (its
heartbeat decides), a process this machine cannot see is taken to be alive, and where ``/proc``
cannot tell (another operating system, a restricted container) the key is empty and only the
heartbeat decides.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

PROC = Path("/proc")


def _start_time(stat: str) -> tuple[str, str]:
    """(state, start time in clock ticks since boot) from the text of ``/proc/<pid>/stat``."""
    # The command name, in parentheses, may hold spaces and parentheses itself: split after its last ")".
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0], fields[19]


@functools.cache
def machine_key() -> str:
    """``<boot id>/<pid namespace>`` of this process, or "" where ``/proc`` does not tell them."""
    try:
        boot = (PROC / "sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink(PROC / "self/ns/pid")
    except OSError:
        return ""
    if not boot or "/" in boot or "/" in namespace:
        return ""
    return f"{boot}/{namespace}"


def process_key(pid: int | None = None) -> str:
    """The key of process ``pid`` (this process by default), or "" where it cannot be read."""
    machine = machine_key()
    if not machine:
        return ""
    pid = os.getpid() if pid is None else pid
    try:
        _state, started = _start_time((PROC / str(pid) / "stat").read_text())
    except (OSError, ValueError, IndexError):
        return ""
    return f"{machine}/{pid}/{started}"


def process_is_gone(key: str) -> bool:
    """True only if ``key`` names a process of this machine and pid namespace that no longer runs.

    False for a process of another machine, namespace or boot, for a key that does not parse,
    and for a process that still runs (even stopped: a paused process is the heartbeat's to judge).
    """
    machine = machine_key()
    if not machine or not key.startswith(machine + "/"):
        return False
    rest = key[len(machine) + 1 :].split("/")
    if len(rest) != 2 or not rest[0].isdigit() or int(rest[0]) <= 0:
        return False
    pid, started = rest
    try:
        # Signal 0 tests for the pid in this process's own namespace, whoever owns it.
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError, ValueError):
        pass
    try:
        state, now_started = _start_time((PROC / pid / "stat").read_text())
    except (OSError, ValueError, IndexError):
        # Hidden from us (another account, a /proc with hidepid) or gone this instant: the
        # heartbeat decides.
        return False
    # A zombie has ended (its parent has not reaped it yet); another start time means the pid
    # was reused by a later process.
    return state in ("Z", "X") or now_started != started
