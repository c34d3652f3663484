"""Resource limits of a sandboxed run, the report it produces, and the rlimit layer."""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass

MIB = 1024**2

# RLIMIT_AS counts every mapping, not just memory in use: torch maps ~0.6 GiB of libraries and
# reserves thread stacks and malloc arenas it never touches, and below ~1 GiB of address space
# OpenBLAS aborts at import. The address-space cap therefore sits this far above the memory
# cap; the cgroup (where present) enforces the memory cap on resident memory exactly.
ADDRESS_SPACE_HEADROOM_BYTES = 1024 * MIB

# Hard CPU limit a little above the soft one: the kernel sends SIGXCPU at the soft limit (which
# kills a Python process, as it installs no handler) and SIGKILL at the hard limit.
_CPU_HARD_GRACE_SECONDS = 5


@dataclass(frozen=True)
class SandboxLimits:
    """Caps applied to one sandboxed child; defaults suit small benchmarks on a 2-core host."""

    memory_bytes: int = 2 * 1024**3
    """Memory cap: the cgroup limit, and (plus headroom for torch's mappings) RLIMIT_AS."""
    # One session runs a submission's every condition. The whole suite for mnist's 3,000 test
    # items and a small CNN (the clean split, 60 corrupted ones, FGSM and PGD at two eps -- each
    # PGD 11 forward and backward passes -- and 13 saliency passes) took 280 s on a 2-core
    # host shared with other work (its parts, timed alone, add up to ~100 s), and two threads
    # can spend twice the wall time in CPU: 300 s and 600 CPU seconds were too tight; these
    # are the site's settings' defaults too.
    cpu_seconds: int = 1200
    """CPU time the child may use over its whole life (RLIMIT_CPU, summed over threads)."""
    wall_seconds: float = 600.0
    """Wall-clock deadline for the whole session, from start-up to the last prediction."""
    file_size_bytes: int = 256 * 1024**2
    """Largest file the child may write (RLIMIT_FSIZE), also the size of its private /tmp."""
    open_files: int = 256
    """Open file descriptors (RLIMIT_NOFILE)."""
    pids: int = 64
    """Tasks (processes and threads) in the child's pids cgroup."""
    max_log_bytes: int = 64 * 1024
    """Bytes of the child's stdout and of its stderr kept for messages; the rest is dropped."""
    # A worker shares its machine with the web server: at niceness 10 the kernel gives the
    # child about a tenth of the share of a normal process when both want the CPU, so pages stay
    # quick while a model runs, and the child still has every idle cycle.
    niceness: int = 10
    """Niceness of the child (0 to 19; it runs under SCHED_BATCH too) and cannot lower it again."""

    def __post_init__(self) -> None:
        for name in ("memory_bytes", "cpu_seconds", "file_size_bytes", "open_files", "pids"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"SandboxLimits.{name} must be positive")
        if self.wall_seconds <= 0:
            raise ValueError("SandboxLimits.wall_seconds must be positive")
        if not 0 <= self.niceness <= 19:
            raise ValueError("SandboxLimits.niceness must be between 0 and 19")
        if self.max_log_bytes < 1024:
            raise ValueError("SandboxLimits.max_log_bytes must be at least 1024")

    @property
    def memory_mib(self) -> int:
        """The memory cap in MiB, as messages and settings state it."""
        return self.memory_bytes // MIB

    @property
    def address_space_bytes(self) -> int:
        """The RLIMIT_AS value: the memory cap plus headroom for untouched mappings."""
        return self.memory_bytes + ADDRESS_SPACE_HEADROOM_BYTES


@dataclass(frozen=True)
class SandboxReport:
    """What a sandboxed session did and under which protections."""

    layers: tuple[str, ...]
    """Protection layers that were active, e.g. ("bubblewrap", "seccomp", "rlimits", ...)."""
    startup_seconds: float
    """From spawning the child to the model being loaded and ready."""
    batch_seconds: tuple[float, ...]
    """Latency of every batch the model ran, in order, as timed inside the child."""
    items: int
    """Number of inputs predicted over the session."""
    peak_memory_bytes: int | None
    """Peak memory of the child (cgroup high-water mark, else its own peak RSS)."""
    parameter_count: int | None
    """Number of parameters of the loaded model, when readable."""
    model_format: str
    """"torchscript" or "torch.export"."""
    peak_memory_source: str = "child"
    """Who measured ``peak_memory_bytes``: "cgroup" (the parent, from the kernel's high-water
    mark) or "child" (the child's own, unverifiable report of its peak RSS)."""
    wall_seconds: float = 0.0
    """Wall-clock time of the whole session as measured by the parent."""


def inference_threads() -> int:
    """Number of intra-op threads a model gets: one per CPU this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def rlimits_for(limits: SandboxLimits) -> dict[int, tuple[int, int]]:
    """Map each rlimit resource to the (soft, hard) pair the child runs under."""
    address_space = limits.address_space_bytes
    return {
        resource.RLIMIT_AS: (address_space, address_space),
        resource.RLIMIT_CPU: (
            int(limits.cpu_seconds),
            int(limits.cpu_seconds) + _CPU_HARD_GRACE_SECONDS,
        ),
        resource.RLIMIT_FSIZE: (int(limits.file_size_bytes), int(limits.file_size_bytes)),
        resource.RLIMIT_NOFILE: (int(limits.open_files), int(limits.open_files)),
        # A core dump of a 2 GiB process would be a huge file written outside the file-size cap.
        resource.RLIMIT_CORE: (0, 0),
        # No raising its priority back above the niceness it was started at.
        resource.RLIMIT_NICE: (0, 0),
    }


def apply_rlimits(rlimits: dict[int, tuple[int, int]]) -> None:
    """Apply precomputed rlimits to the current process (called between fork and exec).

    Only lowers limits: a hard limit already below the requested one is kept.
    """
    for which, (soft, hard) in rlimits.items():
        _, current_hard = resource.getrlimit(which)
        if current_hard != resource.RLIM_INFINITY:
            hard = min(hard, current_hard)
            soft = min(soft, hard)
        resource.setrlimit(which, (soft, hard))


def lower_priority(niceness: int) -> None:
    """Make the current process a background one (called between fork and exec).

    Sets SCHED_BATCH, which tells the scheduler the process is CPU-bound and not interactive, and
    raises the niceness to ``niceness`` (never lowers it: a worker started nicer stays so).
    Everything the process starts, and its threads, inherit both.
    """
    if hasattr(os, "SCHED_BATCH"):
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if niceness > current:
        os.setpriority(os.PRIO_PROCESS, 0, niceness)
