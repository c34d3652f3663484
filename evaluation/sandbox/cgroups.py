"""The cgroup layer: a per-run memory cap and pids cap, with peak memory read back.

Each run gets its own cgroup, ``touchstone/run-<random>``, in the v1 ``memory`` and ``pids``
hierarchies when the host mounts them, or in the v2 hierarchy for the controllers it enables.
The child is placed in it between fork and exec, so bubblewrap and everything it starts are
counted from the first instruction. Where no cgroup is writable (no root, a container without
delegation) the run goes on without this layer and the report says so.

RLIMIT_NPROC is no substitute for the pids cap: the kernel does not enforce it for processes
whose real uid is root, which is what bubblewrap's "nobody" maps to when the worker is root.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT_NAME = "touchstone"
CONTROLLERS = ("memory", "pids")


def _v1_root(controller: str) -> Path | None:
    """The v1 hierarchy of ``controller`` if it is mounted and writable here."""
    root = CGROUP_ROOT / controller
    # A v2 mount has cgroup.controllers; a v1 hierarchy root has cgroup.procs but not that.
    is_v1 = (root / "cgroup.procs").exists() and not (root / "cgroup.controllers").exists()
    if controller == "memory":
        is_v1 = is_v1 and (root / "memory.limit_in_bytes").exists()
    if is_v1 and os.access(root, os.W_OK):
        return root
    return None


def _v2_root() -> Path | None:
    """The mount point of the unified (v2) hierarchy, if any."""
    for candidate in (CGROUP_ROOT, CGROUP_ROOT / "unified"):
        if (candidate / "cgroup.controllers").exists():
            return candidate
    return None


def _v2_controllers(root: Path) -> set[str]:
    try:
        return set((root / "cgroup.controllers").read_text().split())
    except OSError:
        return set()


def cgroup_status() -> dict[str, str | None]:
    """Which cgroup version would enforce each controller: ``"v1"``, ``"v2"`` or None."""
    status: dict[str, str | None] = {}
    v2 = _v2_root()
    v2_controllers = _v2_controllers(v2) if v2 and os.access(v2, os.W_OK) else set()
    for controller in CONTROLLERS:
        if _v1_root(controller) is not None:
            status[controller] = "v1"
        elif controller in v2_controllers:
            status[controller] = "v2"
        else:
            status[controller] = None
    return status


def _read_words(path: Path) -> set[str]:
    try:
        return set(path.read_text().split())
    except OSError:
        return set()


def _write(path: Path, value: str) -> None:
    with open(path, "w") as handle:
        handle.write(value)


def _sweep_stale(parent: Path) -> None:
    """Remove empty run folders whose worker died (a SIGKILLed worker cannot clean up)."""
    try:
        folders = list(parent.glob("run-*-*"))
    except OSError:
        return
    for folder in folders:
        try:
            worker = int(folder.name.split("-")[1])
            os.kill(worker, 0)
            continue  # that worker is alive: the run may be in progress
        except ProcessLookupError:
            pass
        except (ValueError, PermissionError):
            continue
        with contextlib.suppress(OSError):
            folder.rmdir()  # fails, harmlessly, while processes are still inside


@dataclass
class RunCgroup:
    """The cgroups of one run; ``directories`` maps a controller to the run's folder."""

    directories: dict[str, Path] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    _procs_fds: list[int] = field(default_factory=list)

    @property
    def layers(self) -> tuple[str, ...]:
        """Layer names for the report, e.g. ``("cgroup-memory", "cgroup-pids")``."""
        return tuple(f"cgroup-{controller}" for controller in self.directories)

    @classmethod
    def create(cls, *, memory_bytes: int, pids: int) -> RunCgroup:
        """Create the run's cgroups with their caps; controllers that fail are left out."""
        run = cls()
        name = f"run-{os.getpid()}-{secrets.token_hex(4)}"
        v2 = _v2_root()
        for controller in CONTROLLERS:
            try:
                v1 = _v1_root(controller)
                if v1 is not None:
                    _sweep_stale(v1 / PARENT_NAME)
                    directory = v1 / PARENT_NAME / name
                    directory.mkdir(parents=True)
                    run.directories[controller] = directory
                    run.versions[controller] = "v1"
                    run._configure_v1(controller, directory, memory_bytes, pids)
                elif v2 is not None and controller in _v2_controllers(v2):
                    parent = v2 / PARENT_NAME
                    parent.mkdir(exist_ok=True)
                    _sweep_stale(parent)
                    # A v2 controller works in a child only if every ancestor delegates it.
                    # An administrator may have enabled it already (then we may lack the right
                    # to write the root's file), so write only what is missing.
                    for folder in (v2, parent):
                        if controller not in _read_words(folder / "cgroup.subtree_control"):
                            _write(folder / "cgroup.subtree_control", f"+{controller}")
                    directory = parent / name
                    directory.mkdir(exist_ok=True)
                    run.directories[controller] = directory
                    run.versions[controller] = "v2"
                    run._configure_v2(controller, directory, memory_bytes, pids)
            except OSError:
                # Not writable (no root, no delegation): degrade to the other layers.
                stale = run.directories.pop(controller, None)
                run.versions.pop(controller, None)
                if stale is not None and not any(d == stale for d in run.directories.values()):
                    with contextlib.suppress(OSError):
                        stale.rmdir()
        return run

    @staticmethod
    def _configure_v1(controller: str, directory: Path, memory_bytes: int, pids: int) -> None:
        if controller == "memory":
            _write(directory / "memory.limit_in_bytes", str(memory_bytes))
            # Without swap accounting the cap could be dodged by swapping out; cap it too.
            memsw = directory / "memory.memsw.limit_in_bytes"
            if memsw.exists():
                _write(memsw, str(memory_bytes))
            with contextlib.suppress(OSError):
                _write(directory / "memory.swappiness", "0")
        else:
            _write(directory / "pids.max", str(pids))

    @staticmethod
    def _configure_v2(controller: str, directory: Path, memory_bytes: int, pids: int) -> None:
        if controller == "memory":
            _write(directory / "memory.max", str(memory_bytes))
            with contextlib.suppress(OSError):
                _write(directory / "memory.swap.max", "0")
        else:
            _write(directory / "pids.max", str(pids))

    def _procs_paths(self) -> list[Path]:
        # v2 has one directory for all controllers; do not add the process twice.
        return sorted({directory / "cgroup.procs" for directory in self.directories.values()})

    def open_for_attach(self) -> None:
        """Open the ``cgroup.procs`` files now, so the forked child only has to write."""
        self._procs_fds = [os.open(path, os.O_WRONLY | os.O_CLOEXEC) for path in self._procs_paths()]

    def attach_self(self) -> None:
        """Move the calling process into the run's cgroups (runs between fork and exec)."""
        pid = str(os.getpid()).encode()
        for fd in self._procs_fds:
            os.write(fd, pid)

    def close_attach_fds(self) -> None:
        """Close the fds opened by ``open_for_attach`` (in the parent, after spawning)."""
        for fd in self._procs_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._procs_fds = []

    def _read(self, controller: str, name: str) -> str | None:
        directory = self.directories.get(controller)
        if directory is None:
            return None
        try:
            return (directory / name).read_text()
        except OSError:
            return None

    def peak_memory_bytes(self) -> int | None:
        """High-water mark of the run's memory use, or None without a memory cgroup."""
        name = "memory.max_usage_in_bytes" if self.versions.get("memory") == "v1" else "memory.peak"
        text = self._read("memory", name)
        return int(text) if text and text.strip().isdigit() else None

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer fired inside the run's memory cgroup."""
        name = "memory.oom_control" if self.versions.get("memory") == "v1" else "memory.events"
        text = self._read("memory", name) or ""
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit() and int(value) > 0:
                return True
        return False

    def pids_in_use(self) -> list[int]:
        """Host pids of every process still in the run's cgroups."""
        found: set[int] = set()
        for path in self._procs_paths():
            try:
                found.update(int(line) for line in path.read_text().split())
            except (OSError, ValueError):
                continue
        return sorted(found)

    def kill_all(self, *, timeout: float = 5.0) -> None:
        """SIGKILL every process in the run's cgroups and wait until they are gone."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.pids_in_use()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)

    def remove(self) -> None:
        """Kill what is left and delete the run's cgroup folders (not the shared parent)."""
        self.close_attach_fds()
        self.kill_all()
        for directory in set(self.directories.values()):
            # rmdir fails with EBUSY while the kernel is still tearing the last task down.
            for _ in range(50):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
        self.directories.clear()
