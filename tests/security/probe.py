"""Runs inside the real sandbox (standard library only) and reports what it could do.

Usage: probe.py PORT PATH... -- tries to reach 127.0.0.1:PORT and to see each PATH; prints one
JSON object on stdout.
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


def main() -> None:
    port = int(sys.argv[1])
    status = dict(
        line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines()
        if ":\t" in line
    )
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
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
