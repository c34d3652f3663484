"""The seccomp layer: a BPF filter handed to ``bwrap --seccomp FD``.

The filter allows every system call by default and denies, with ``EPERM``, the ones an
inference job never needs but an escape or an exfiltration would: networking, tracing other
processes, namespaces and mounts, kernel keyrings, BPF, module loading and the like. An
allow-list would be tighter but breaks with every new torch release (it pulls in new syscalls
for its thread pools and allocators); the namespaces, the read-only file view and the rlimits
already confine what the remaining calls can reach.
"""

from __future__ import annotations

import errno
import os

# Grouped by what they would let a model do. Names unknown to the running kernel or libseccomp
# are skipped when the filter is built (see ``build_filter_fd``).
DENIED_SYSCALLS: tuple[str, ...] = (
    # Networking: the network namespace has only its own loopback, and this also stops
    # abstract unix sockets, which are shared with the host's network namespace.
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    "sendmmsg",
    "recvmmsg",
    # Looking into or steering other processes.
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    # Namespaces, mounts and root changes: the ways out of the bubblewrap view.
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "open_by_handle_at",
    "name_to_handle_at",
    # Kernel attack surface an inference job never needs.
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "keyctl",
    "add_key",
    "request_key",
    "fanotify_init",
    "lookup_dcookie",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "iopl",
    "ioperm",
    "uselib",
    "personality",
    "quotactl",
    "nfsservctl",
    # Whole-machine settings (already blocked by dropped capabilities; denied twice).
    "reboot",
    "swapon",
    "swapoff",
    "syslog",
    "acct",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "sethostname",
    "setdomainname",
    "vhangup",
)

# clone() flags that create namespaces; clone() itself must stay allowed for threads.
_CLONE_NAMESPACE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)


def seccomp_available() -> bool:
    """Return True if pyseccomp and libseccomp can build a filter on this host."""
    try:
        import pyseccomp

        pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    except Exception:
        return False
    return True


def build_filter_fd() -> int | None:
    """Build the filter and return a readable fd holding its BPF program, or None.

    The fd is a memfd positioned at offset 0; bubblewrap reads it with ``--seccomp FD``. The
    caller owns the fd and closes it once bubblewrap has started. Returns None when pyseccomp
    or libseccomp is unavailable, so the caller can report the layer as missing.
    """
    try:
        import pyseccomp
    except ImportError:
        return None
    try:
        syscall_filter = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    except Exception:
        return None
    deny = pyseccomp.ERRNO(errno.EPERM)
    for name in DENIED_SYSCALLS:
        try:
            syscall_filter.add_rule(deny, name)
        except (ValueError, RuntimeError, OSError):
            # The syscall does not exist on this architecture (e.g. iopl on arm64).
            continue
    # One rule per flag: MASKED_EQ tests ``flags & mask == value``, so a single rule over the
    # combined mask would only match when every namespace flag is set at once.
    for flag in _CLONE_NAMESPACE_FLAGS:
        syscall_filter.add_rule(deny, "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, flag, flag))
    # clone3 passes its flags in memory, which seccomp cannot inspect. ENOSYS makes glibc fall
    # back to clone(), whose flags the rule above does check.
    try:
        syscall_filter.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")
    except (ValueError, RuntimeError, OSError):
        pass
    fd = os.memfd_create("touchstone-seccomp", 0)
    with open(fd, "wb", closefd=False) as bpf_file:
        syscall_filter.export_bpf(bpf_file)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
