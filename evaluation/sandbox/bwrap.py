"""The bubblewrap layer: finding ``bwrap`` and building its command line.

The sandbox sees an empty, read-only root with only these bound into it: ``/usr`` and the
``/lib*``/``/bin``/``/sbin`` links the dynamic loader expects, ``/etc/ld.so.cache``, the Python
installation (its prefix and, for a virtual environment, the environment too), the child
program, the model file, the folder of inputs (read-only) and the one output file (writable).
Everything else on the host -- the benchmark data, the database, settings, other submissions,
``/etc/passwd``, home directories -- does not exist inside.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import SandboxUnavailableError

# uid/gid of "nobody": the sandboxed process owns nothing on the host by that name.
SANDBOX_UID = 65534
SANDBOX_GID = 65534

# Paths inside the sandbox.
SANDBOX_ROOT = "/sandbox"
CHILD_PATH = f"{SANDBOX_ROOT}/child.py"
INPUT_DIR = f"{SANDBOX_ROOT}/io/in"
OUTPUT_FILE = f"{SANDBOX_ROOT}/io/out.npy"

# Top-level links or folders the dynamic loader and ctypes look for; Debian makes them links
# into /usr, and libseccomp is only found when /sbin exists (ldconfig lookups).
_ROOT_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")

INSTALL_HINT = (
    "Install bubblewrap on the worker (Debian/Ubuntu: `apt-get install bubblewrap`). For local "
    "development only, set TOUCHSTONE_ALLOW_UNSANDBOXED_MODELS=1 to run models without the "
    "sandbox."
)

START_HINT = (
    "Check that the worker may create user namespaces (sysctl user.max_user_namespaces > 0, "
    "and kernel.unprivileged_userns_clone=1 where it exists, for a non-root worker) and that "
    "its Python installation is readable by the worker's user. For local development only, "
    "set TOUCHSTONE_ALLOW_UNSANDBOXED_MODELS=1 to run models without the sandbox."
)


@dataclass(frozen=True)
class SandboxPaths:
    """Host paths that a sandboxed child is given."""

    child_program: Path
    """The child's entry point (``evaluation/sandbox/child.py``), bound read-only."""
    model_file: Path
    """The submitted model, bound read-only."""
    input_dir: Path
    """Folder where the parent writes input ``.npy`` files, bound read-only."""
    output_file: Path
    """The only writable host file: the child writes logits here."""


def find_bwrap() -> str | None:
    """Return the path of the ``bwrap`` executable, or None if it is not installed."""
    return shutil.which("bwrap") or (
        "/usr/bin/bwrap" if os.access("/usr/bin/bwrap", os.X_OK) else None
    )


@functools.lru_cache(maxsize=4)
def bwrap_version(path: str) -> str | None:
    """Return bubblewrap's version string (e.g. ``"0.8.0"``), or None if it cannot be run."""
    try:
        completed = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    words = completed.stdout.split()
    return words[-1] if completed.returncode == 0 and words else None


def interpreter_prefixes() -> list[Path]:
    """Folders holding the running interpreter, its standard library and site-packages.

    These are bound read-only at the same path so the child runs the very interpreter and
    packages of the parent. ``/usr`` is bound anyway, so prefixes inside it are skipped.
    """
    prefixes: list[Path] = []
    for raw in (sys.base_prefix, sys.prefix, sys.exec_prefix, sys.base_exec_prefix):
        prefix = Path(raw).resolve()
        if prefix == Path("/"):
            raise SandboxUnavailableError(
                "The Python installation lives directly in /, which cannot be bound into the "
                "sandbox without exposing the whole host. Run the worker from a virtual "
                "environment (see SECURITY.md)."
            )
        if prefix == Path("/usr") or Path("/usr") in prefix.parents:
            continue
        if prefix not in prefixes:
            prefixes.append(prefix)
    return prefixes


def sandbox_executable() -> str:
    """The interpreter path the child is started with (the parent's own interpreter)."""
    return sys.executable


def build_command(
    bwrap: str,
    paths: SandboxPaths,
    *,
    model_name: str,
    tmp_size_bytes: int,
    environment: dict[str, str],
    seccomp_fd: int | None,
    child_arguments: Sequence[str],
) -> list[str]:
    """Build the full ``bwrap`` command line that starts the child.

    ``model_name`` is the file name the model gets inside (its suffix matters to
    ``torch.export.load``); ``child_arguments`` are appended after the child program.
    """
    command = [
        bwrap,
        # Every namespace: no network (only a private loopback), no view of host processes,
        # IPC, hostname or cgroups; a user namespace in which we are "nobody".
        "--unshare-all",
        "--uid", str(SANDBOX_UID),
        "--gid", str(SANDBOX_GID),
        "--cap-drop", "ALL",
        # The child dies with the parent, and cannot inject keystrokes into our terminal
        # (TIOCSTI) because it gets its own session.
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--ro-bind", "/usr", "/usr",
    ]
    for name in _ROOT_LINKS:
        host = Path("/") / name
        if host.is_symlink():
            command += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            command += ["--ro-bind", str(host), str(host)]
    if Path("/etc/ld.so.cache").exists():
        command += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    # /tmp comes before the interpreter: a virtual environment under /tmp must stay visible.
    command += ["--size", str(int(tmp_size_bytes)), "--tmpfs", "/tmp"]
    for prefix in interpreter_prefixes():
        command += ["--ro-bind", str(prefix), str(prefix)]
    command += [
        "--proc", "/proc",
        "--dev", "/dev",
        "--ro-bind", str(paths.child_program), CHILD_PATH,
        "--ro-bind", str(paths.model_file), f"{SANDBOX_ROOT}/{model_name}",
        "--ro-bind", str(paths.input_dir), INPUT_DIR,
        "--bind", str(paths.output_file), OUTPUT_FILE,
        "--chdir", "/tmp",
        # The root tmpfs and /dev are writable by the sandbox's user until remounted; after
        # this only /tmp (size-capped) and the output file can be written.
        "--remount-ro", "/dev",
        "--remount-ro", "/",
    ]
    for key, value in sorted(environment.items()):
        command += ["--setenv", key, value]
    if seccomp_fd is not None:
        command += ["--seccomp", str(seccomp_fd)]
    command += ["--", sandbox_executable(), "-I", "-B", CHILD_PATH, *child_arguments]
    return command
