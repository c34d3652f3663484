"""The bubblewrap layer: finding ``bwrap`` and building its arguments.

The sandbox sees an empty, read-only root with only these bound into it: the shared libraries
(``/usr/lib/<multiarch>``, ``/usr/lib64``, the ``/lib``/``/lib64`` links, ``/etc/ld.so.cache``),
the Python installation (its prefix outside ``/usr``; for a Python under ``/usr``, its own
library folders and the executable), a copy of the child program, a copy of the model, the
folder of inputs (read-only) and the one output file (writable). ``/proc`` is the sandbox's own
and read-only (so ``/proc/sys`` and ``/proc/sysrq-trigger`` cannot be written), ``/dev`` holds
only ``null``, ``zero``, ``full``, ``random`` and ``urandom``, and there is no ``/sys``, no
``/usr/bin``, no ``/usr/local``, no ``/usr/share``. Everything else on the host -- the benchmark
data, the database, settings, other submissions, ``/etc/passwd``, home directories -- does not
exist inside.

bubblewrap's own options travel through ``--args FD`` (a memory file), so the command line of
the sandbox's pid 1, which the model can read in ``/proc/1/cmdline``, holds no host path.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SandboxUnavailableError

# The uid/gid the model has inside its user namespace ("nobody"). To the host kernel it is the
# uid bubblewrap runs as: the worker's own, or the sandbox account's when the worker is root.
SANDBOX_UID = 65534
SANDBOX_GID = 65534

# Paths inside the sandbox.
SANDBOX_ROOT = "/sandbox"
CHILD_PATH = f"{SANDBOX_ROOT}/child.py"
INPUT_DIR = f"{SANDBOX_ROOT}/io/in"
OUTPUT_FILE = f"{SANDBOX_ROOT}/io/out.npy"

# Device nodes the child may use. bubblewrap's --dev would add a devpts, which makes it nest a
# second user namespace; the model's /proc/self/uid_map would then show the intermediate
# namespace's uid 0 instead of the host uid it runs as.
_DEVICES = ("null", "zero", "full", "random", "urandom")
_STANDARD_STREAMS = {"stdin": 0, "stdout": 1, "stderr": 2}

# The top-level library links the dynamic loader looks through (Debian makes them links into
# /usr). /bin and /sbin are left out: the child runs no programs.
_ROOT_LIBRARY_LINKS = ("lib", "lib64")

INSTALL_HINT = (
    "Install bubblewrap on the worker (Debian/Ubuntu: `apt-get install bubblewrap`). For local "
    "development only, set TOUCHSTONE_ALLOW_UNSANDBOXED_MODELS=1 to run models without the "
    "sandbox."
)

START_HINT = (
    "Check that the sandbox's account may create user namespaces (sysctl "
    "user.max_user_namespaces > 0, and kernel.unprivileged_userns_clone=1 where it exists) and "
    "that the worker's Python installation is readable by every user. For local development "
    "only, set TOUCHSTONE_ALLOW_UNSANDBOXED_MODELS=1 to run models without the sandbox."
)


@dataclass(frozen=True)
class SandboxPaths:
    """Host paths that a sandboxed child is given."""

    child_program: Path
    """The program the sandbox runs (a copy of ``child.py``), bound read-only."""
    model_file: Path
    """The submitted model (a copy in the IO folder), bound read-only."""
    input_dir: Path
    """Folder where the parent writes input ``.npy`` files, bound read-only."""
    output_file: Path
    """The only writable host file: the child writes logits here."""


@dataclass(frozen=True)
class Bind:
    """A host folder or file bound read-only into the sandbox."""

    source: Path
    """Where it is on the host."""
    target: str
    """Where it appears inside the sandbox."""


@dataclass(frozen=True)
class InterpreterView:
    """What the child's interpreter needs inside the sandbox, at the paths it has outside."""

    binds: tuple[Bind, ...]
    """Folders and files bound read-only (prefixes, standard library, the executable)."""
    links: tuple[tuple[str, str], ...] = field(default=())
    """Symbolic links to create, as ``(link text, path)``, for the executable's link chain."""


def find_bwrap() -> str | None:
    """Return the path of the ``bwrap`` executable, or None if it is not installed."""
    return shutil.which("bwrap") or ("/usr/bin/bwrap" if os.access("/usr/bin/bwrap", os.X_OK) else None)


@functools.lru_cache(maxsize=4)
def bwrap_version(path: str) -> str | None:
    """Return bubblewrap's version string (e.g. ``"0.8.0"``), or None if it cannot be run."""
    try:
        completed = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    words = completed.stdout.split()
    return words[-1] if completed.returncode == 0 and words else None


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def interpreter_prefixes() -> list[Path]:
    """Folders outside ``/usr`` holding the running interpreter and its packages.

    These are bound read-only at the same path so the child runs the very interpreter and
    packages of the parent. A Python installed under ``/usr`` is bound piece by piece instead
    (see ``interpreter_view``), so that the rest of ``/usr`` stays outside.
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
        if _inside(prefix, Path("/usr")):
            continue
        if prefix not in prefixes:
            prefixes.append(prefix)
    return prefixes


def sandbox_executable() -> str:
    """The interpreter path the child is started with: the parent's own interpreter.

    Folder links are resolved but not the file's own name: a virtual environment is found
    from the name its ``bin/python`` link is called by.
    """
    executable = Path(sys.executable)
    return str(Path(os.path.realpath(executable.parent)) / executable.name)


def _system_python_folders(covered: Sequence[Path]) -> list[Path]:
    """Entries of ``sys.path`` under ``/usr`` (a Python installed there), outermost only."""
    found: list[Path] = []
    for entry in sys.path:
        if not entry:
            continue
        path = Path(os.path.realpath(entry))
        if path == Path("/usr") or not _inside(path, Path("/usr")) or not path.exists():
            continue
        found.append(path)
    outermost = [
        path
        for path in found
        if not any(other != path and _inside(path, other) for other in found)
        and not any(_inside(path, folder) for folder in covered)
    ]
    return sorted(set(outermost))


def _executable_chain(executable: str, covered: Sequence[Path]) -> tuple[list[tuple[str, str]], list[Bind]]:
    """Links and the final file the kernel follows to execute ``executable``, where not bound.

    A virtual environment's ``bin/python`` links to, e.g., ``/usr/bin/python3``, which links to
    ``python3.11``: each link outside the bound folders is recreated, and the real file bound.
    """
    links: list[tuple[str, str]] = []
    binds: list[Bind] = []
    current = Path(executable)
    for _ in range(40):  # the kernel's own limit on links followed
        is_covered = any(_inside(current, folder) for folder in covered)
        if not current.is_symlink():
            if not is_covered:
                binds.append(Bind(current, str(current)))
            break
        text = os.readlink(current)
        if not is_covered:
            links.append((text, str(current)))
        following = current.parent / text
        current = Path(os.path.realpath(following.parent)) / following.name
    return links, binds


def library_binds() -> list[Bind]:
    """The shared-library folders of the system (``/usr/lib/<multiarch>``, ``/usr/lib64``)."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    binds: list[Bind] = []
    for top in (Path("/usr/lib"), Path("/lib")):
        if top == Path("/lib") and top.is_symlink():
            continue  # merged /usr: a link made by root_library_links()
        narrow = top / multiarch if multiarch else None
        folder = narrow if narrow is not None and narrow.is_dir() else top
        if folder.is_dir():
            binds.append(Bind(folder, str(folder)))
    for folder in (Path("/usr/lib64"), Path("/lib64")):
        if folder.is_dir() and not folder.is_symlink():
            binds.append(Bind(folder, str(folder)))
    if Path("/etc/ld.so.cache").is_file():
        binds.append(Bind(Path("/etc/ld.so.cache"), "/etc/ld.so.cache"))
    return binds


def root_library_links() -> list[tuple[str, str]]:
    """``/lib`` and ``/lib64`` as the links they are on a merged-``/usr`` system."""
    return [(os.readlink(f"/{name}"), f"/{name}") for name in _ROOT_LIBRARY_LINKS if Path(f"/{name}").is_symlink()]


def interpreter_view() -> InterpreterView:
    """The folders, files and links that let the child start the parent's interpreter."""
    prefixes = interpreter_prefixes()
    libraries = [bind.source for bind in library_binds()]
    folders = _system_python_folders([*prefixes, *libraries])
    links, executable = _executable_chain(sandbox_executable(), [*prefixes, *folders])
    binds = [Bind(path, str(path)) for path in (*prefixes, *folders)] + executable
    return InterpreterView(binds=tuple(binds), links=tuple(links))


def sandbox_options(
    paths: SandboxPaths,
    *,
    model_name: str,
    tmp_size_bytes: int,
    environment: Mapping[str, str],
    seccomp_fd: int | None,
    interpreter: InterpreterView | None = None,
    sources: Mapping[Path, Path] | None = None,
) -> list[str]:
    """bubblewrap's options: namespaces, identity, the file view, the environment, seccomp.

    ``model_name`` is the file name the model gets inside (its suffix matters to
    ``torch.export.load``). ``sources`` maps an interpreter folder to the host path bubblewrap
    should bind it from instead (a mount point the sandbox account can reach).
    """
    interpreter = interpreter or interpreter_view()
    sources = sources or {}
    options = [
        # Every namespace: no network (only a private loopback), no view of host processes,
        # IPC, hostname or cgroups; a user namespace in which we are "nobody".
        "--unshare-all",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_GID),
        "--cap-drop",
        "ALL",
        # The child dies with the parent, and cannot inject keystrokes into our terminal
        # (TIOCSTI) because it gets its own session.
        "--die-with-parent",
        "--new-session",
        "--clearenv",
    ]
    for bind in library_binds():
        options += ["--ro-bind", str(bind.source), bind.target]
    for text, link in root_library_links():
        options += ["--symlink", text, link]
    # /tmp comes before the interpreter: a virtual environment under /tmp must stay visible.
    options += ["--size", str(int(tmp_size_bytes)), "--tmpfs", "/tmp"]
    for bind in interpreter.binds:
        options += ["--ro-bind", str(sources.get(bind.source, bind.source)), bind.target]
    for text, link in interpreter.links:
        options += ["--symlink", text, link]
    # The sandbox's own procfs, read-only as a whole: no sysctl, sysrq-trigger or per-process
    # file can be written. bubblewrap covers /proc/sys itself only when that folder is writable
    # to the caller, which it never is (mode 0555), while the files inside can be.
    options += ["--proc", "/proc", "--remount-ro", "/proc", "--tmpfs", "/dev"]
    for device in _DEVICES:
        options += ["--dev-bind", f"/dev/{device}", f"/dev/{device}"]
    options += ["--symlink", "/proc/self/fd", "/dev/fd"]
    for name, number in _STANDARD_STREAMS.items():
        options += ["--symlink", f"/proc/self/fd/{number}", f"/dev/{name}"]
    options += [
        "--ro-bind",
        str(paths.child_program),
        CHILD_PATH,
        "--ro-bind",
        str(paths.model_file),
        f"{SANDBOX_ROOT}/{model_name}",
        "--ro-bind",
        str(paths.input_dir),
        INPUT_DIR,
        "--bind",
        str(paths.output_file),
        OUTPUT_FILE,
        "--chdir",
        "/tmp",
        # The root tmpfs and /dev are writable by the sandbox's user until remounted; after
        # this only /tmp (size-capped) and the output file can be written.
        "--remount-ro",
        "/dev",
        "--remount-ro",
        "/",
    ]
    for key, value in sorted(environment.items()):
        options += ["--setenv", key, value]
    if seccomp_fd is not None:
        options += ["--seccomp", str(seccomp_fd)]
    return options


def arguments_fd(options: Sequence[str]) -> int:
    """A memory file holding ``options`` NUL-separated, for ``bwrap --args FD``.

    bubblewrap reads it to the end and closes it before the sandboxed program starts. The
    caller closes its own copy once bubblewrap has started.
    """
    fd = os.memfd_create("touchstone-bwrap-arguments", 0)
    data = b"".join(os.fsencode(option) + b"\0" for option in options)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def build_command(bwrap: str, *, arguments: int, child_arguments: Sequence[str]) -> list[str]:
    """The command line that starts the child: bubblewrap, its options' fd, the program.

    Only the interpreter's path (which the sandbox shows anyway) and the child's own arguments
    appear on it; every host path is in the options behind ``arguments`` (an fd).
    """
    return [
        bwrap,
        "--args",
        str(arguments),
        "--",
        sandbox_executable(),
        "-I",
        "-B",
        CHILD_PATH,
        *child_arguments,
    ]
