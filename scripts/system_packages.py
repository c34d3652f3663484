"""Install the Debian packages Touchstone needs when they are missing (as root, with apt).

Usage: python scripts/system_packages.py PACKAGE [PACKAGE ...]
A package counts as present when the program it provides is on the machine.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

# How to tell each package is already installed: a program it provides.
PROBES = {
    "bubblewrap": lambda: shutil.which("bwrap"),
    "redis-server": lambda: shutil.which("redis-server"),
    "postgresql": lambda: glob.glob("/usr/lib/postgresql/*/bin/initdb"),
    "chromium": lambda: shutil.which("chromium"),
}


def main(packages: list[str]) -> int:
    missing = [name for name in packages if not PROBES[name]()]
    if not missing:
        return 0
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print(
            f"missing system packages: {' '.join(missing)}; install them with your package manager "
            f"(Debian: sudo apt-get install {' '.join(missing)})",
            file=sys.stderr,
        )
        return 1
    print(f"installing {' '.join(missing)} with apt-get", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True, env=env)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
