"""Who bubblewrap runs as: never root, so the sandboxed model never maps to host root.

A worker that is not root starts bubblewrap as itself: bubblewrap's user namespace maps the
sandbox's uid 65534 to the worker's own (non-zero) uid. A worker that is root must not do that,
because uid 65534 would then be host uid 0 to the kernel: sysctl files and anything else that
checks the effective uid would treat the model as root. So a root worker starts bubblewrap from
a dedicated unprivileged system account (``touchstone-sandbox``, or the account named by the
environment variable ``TOUCHSTONE_SANDBOX_USER``), and refuses to run models when that account
is missing or is root itself.

An unprivileged bubblewrap can only bind what its account can reach, and a root worker's Python
usually lives where other users may not look (pyenv under ``/root``, mode 0700). Between fork
and exec, still as root, the child therefore enters a private mount namespace and mounts each
such folder onto an empty mount point inside the run's IO folder, which the account may enter;
then it drops to the account and executes bubblewrap, which binds those mount points at the
folders' own paths. The private namespace dies with bubblewrap, and the host's mount table
never changes.
"""

from __future__ import annotations

import ctypes
import functools
import os
import pwd
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import SandboxUnavailableError

USER_VARIABLE = "TOUCHSTONE_SANDBOX_USER"
DEFAULT_USER = "touchstone-sandbox"

_CLONE_NEWNS = 0x00020000
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18


def sandbox_user_name() -> str:
    """The account a root worker starts bubblewrap from (``TOUCHSTONE_SANDBOX_USER``)."""
    return os.environ.get(USER_VARIABLE, "").strip() or DEFAULT_USER


def create_hint(name: str) -> str:
    """How to create the sandbox account, for error messages."""
    return (
        f"Create it as root with `useradd --system --user-group --no-create-home --home-dir "
        f"/nonexistent --shell /usr/sbin/nologin {name}` (`make run` and `make test` do this), "
        f"or name another unprivileged account in {USER_VARIABLE}."
    )


@dataclass(frozen=True)
class SandboxAccount:
    """The unprivileged account bubblewrap runs as when the worker is root."""

    name: str
    """Its user name."""
    uid: int
    """Its uid: the host uid of the sandboxed process."""
    gid: int
    """Its primary gid: the host gid of the sandboxed process; no supplementary groups."""


def sandbox_account() -> SandboxAccount | None:
    """The account bubblewrap must run as, or None when the worker is not root.

    Raises SandboxUnavailableError when the worker is root and the account does not exist or
    is root (uid or gid 0): then no model may run.
    """
    if os.geteuid() != 0:
        return None
    name = sandbox_user_name()
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise SandboxUnavailableError(
            f"The worker runs as root, so it starts the sandbox from the unprivileged account "
            f"{name!r}, which does not exist on this machine; no model is run without it. " + create_hint(name)
        ) from None
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise SandboxUnavailableError(
            f"The sandbox account {name!r} has uid {entry.pw_uid} and gid {entry.pw_gid}; it "
            "must be an unprivileged account (neither may be 0), or models would run as root. "
            + create_hint(DEFAULT_USER)
        )
    return SandboxAccount(name=name, uid=entry.pw_uid, gid=entry.pw_gid)


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    # Loaded in the parent: loading a library after fork could take the loader's lock.
    return ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class Staging:
    """Host folders or files to mount onto mount points the sandbox account can reach."""

    sources: tuple[Path, ...]
    """What to make reachable (e.g. the interpreter's prefix under ``/root``)."""
    mount_points: tuple[Path, ...]
    """Empty folders or files inside the run's IO folder, one per source."""


class PrivilegeDrop:
    """What the forked child does as root before it executes bubblewrap as ``account``.

    Build it in the parent; call ``apply()`` between fork and exec, after joining the cgroups.
    """

    def __init__(self, account: SandboxAccount, staging: Staging) -> None:
        self.account = account
        self._sources = [os.fsencode(path) for path in staging.sources]
        self._targets = [os.fsencode(path) for path in staging.mount_points]
        self._libc = _libc() if self._sources else None

    def apply(self) -> None:
        """Mount the staged sources in a private mount namespace, then become the account.

        Runs in the forked child: it only makes system calls (no imports, no locks).
        """
        if self._libc is not None:
            libc = self._libc
            if libc.unshare(_CLONE_NEWNS) != 0:
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) failed")
            # Without this, mounts below would propagate back to the host's namespace when its
            # root is a shared mount (as systemd makes it).
            if libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
                raise OSError(ctypes.get_errno(), "making the mount namespace private failed")
            for source, target in zip(self._sources, self._targets, strict=True):
                if libc.mount(source, target, None, _MS_BIND | _MS_REC, None) != 0:
                    raise OSError(ctypes.get_errno(), f"binding {source!r} failed")
        account = self.account
        # Groups first (it needs root), then the gid, then the uid; saved ids too, so nothing
        # can switch back.
        os.setgroups([])
        os.setresgid(account.gid, account.gid, account.gid)
        os.setresuid(account.uid, account.uid, account.uid)


def prepare_mount_points(folder: Path, sources: Sequence[Path]) -> Staging:
    """Create one empty mount point in ``folder`` per source (a folder or a file)."""
    points: list[Path] = []
    for index, source in enumerate(sources):
        point = folder / f"view-{index}"
        if source.is_dir():
            point.mkdir(mode=0o755)
        else:
            point.touch(mode=0o644)
        points.append(point)
    return Staging(sources=tuple(sources), mount_points=tuple(points))
