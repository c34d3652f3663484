"""Runs inside the real sandbox (standard library only) and reports what it could do.

Usage: probe.py PORT PATH... -- tries to reach 127.0.0.1:PORT and to see each PATH, to write
every file under /proc/sys and /proc/sysrq-trigger, and reads its user namespace's id maps,
the command line of the sandbox's pid 1 and its own mount table; prints one JSON object on
stdout.
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import sys


def _attempt(action) -> str:
    try:
        action()
    except OSError as error:
        return f"errno {error.errno}"
    return "ok"


def _connect(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        client.settimeout(3)
        client.connect(("127.0.0.1", port))
        client.sendall(b"hello from the sandbox")


def _unshare_user_namespace() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x10000000) != 0:  # CLONE_NEWUSER
        raise OSError(ctypes.get_errno(), "unshare")


def _write(path: str) -> None:
    with open(path, "w") as handle:
        handle.write("x")


def _read(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", errors="replace")
    except OSError as error:
        return f"errno {error.errno}"


def _open_for_writing(path: str) -> None:
    # Opening is the permission check; nothing is written, so a sysctl would keep its value
    # even if the open succeeded.
    os.close(os.open(path, os.O_WRONLY | os.O_NOFOLLOW))


def _try_writing_under(folder: str) -> dict:
    """Try to open every file under ``folder`` for writing: the count, successes and errors."""
    count, writable, errors = 0, [], set()
    for root, _, files in os.walk(folder):
        for name in files:
            count += 1
            path = os.path.join(root, name)
            outcome = _attempt(lambda path=path: _open_for_writing(path))
            if outcome == "ok":
                writable.append(path)
            else:
                errors.add(outcome)
    return {"files": count, "writable": writable, "errors": sorted(errors)}


def main() -> None:
    port = int(sys.argv[1])
    status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
    report = {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "cap_effective": status.get("CapEff", "").strip(),
        "no_new_privs": status.get("NoNewPrivs", "").strip(),
        "seccomp": status.get("Seccomp", "").strip(),
        "inet_socket": _attempt(lambda: socket.socket(socket.AF_INET).close()),
        "unix_socket": _attempt(lambda: socket.socket(socket.AF_UNIX).close()),
        "connect": _attempt(lambda: _connect(port)),
        "unshare": _attempt(_unshare_user_namespace),
        "write_root": _attempt(lambda: _write("/escape")),
        "write_dev": _attempt(lambda: _write("/dev/escape")),
        "write_tmp": _attempt(lambda: _write("/tmp/scratch")),
        "visible": {path: os.path.exists(path) for path in sys.argv[2:]},
        "environment": sorted(os.environ),
        "uid_map": _read("/proc/self/uid_map").split(),
        "gid_map": _read("/proc/self/gid_map").split(),
        "pid_1_cmdline": _read("/proc/1/cmdline"),
        "mountinfo": _read("/proc/self/mountinfo"),
        "sysctl": _try_writing_under("/proc/sys"),
        "sysrq_trigger": _attempt(lambda: _open_for_writing("/proc/sysrq-trigger")),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
