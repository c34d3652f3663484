"""Create the unprivileged account a root worker starts the sandbox from, if it is missing.

Usage: python scripts/sandbox_account.py
The account is ``touchstone-sandbox`` unless ``TOUCHSTONE_SANDBOX_USER`` names another. It is a
system account with its own group, no home directory and no login shell; it owns no files, and
a root worker gives it only what one run needs (see SECURITY.md). Run again, it does nothing.
As a non-root user it only checks: a non-root worker starts the sandbox as itself.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys

DEFAULT_USER = "touchstone-sandbox"


def main() -> int:
    name = os.environ.get("TOUCHSTONE_SANDBOX_USER", "").strip() or DEFAULT_USER
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        entry = None
    if entry is not None:
        if entry.pw_uid == 0 or entry.pw_gid == 0:
            print(
                f"the sandbox account {name!r} has uid {entry.pw_uid} and gid {entry.pw_gid}; "
                "it must be unprivileged (neither may be 0): name another account in "
                "TOUCHSTONE_SANDBOX_USER",
                file=sys.stderr,
            )
            return 1
        return 0
    if os.geteuid() != 0:
        # A non-root worker runs bubblewrap as itself and needs no account.
        return 0
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    command = [
        useradd,
        "--system",
        "--user-group",
        "--no-create-home",
        "--home-dir",
        "/nonexistent",
        "--shell",
        "/usr/sbin/nologin",
        name,
    ]
    print(f"creating the sandbox account {name!r}: {' '.join(command)}", file=sys.stderr)
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        print(
            f"could not create the sandbox account {name!r}: {completed.stderr.strip()}; create "
            f"it by hand with: {' '.join(command[1:])}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
