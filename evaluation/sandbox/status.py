"""What sandbox layers this host offers, for the site's status page and warning banner."""

from __future__ import annotations

import os
import pwd
from typing import Any

from ..errors import SandboxUnavailableError
from . import bwrap as bwrap_layer
from .account import sandbox_account, sandbox_user_name
from .cgroups import cgroup_status
from .seccomp import seccomp_available


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def account_status() -> dict[str, Any]:
    """Which host account the sandboxed process runs as, and the uid map it sees inside.

    Keys: ``user``, ``uid``, ``gid`` (the host account; None when it cannot be used),
    ``dedicated`` (True for the sandbox account of a root worker, False when bubblewrap runs as
    the worker itself), ``uid_map`` (``/proc/self/uid_map`` as the model reads it, e.g.
    ``"65534 999 1"``) and ``problem`` (why no model can run, or None).
    """
    try:
        account = sandbox_account()
    except SandboxUnavailableError as error:
        return {
            "user": sandbox_user_name(),
            "uid": None,
            "gid": None,
            "dedicated": True,
            "uid_map": None,
            "problem": str(error),
        }
    if account is None:
        uid, gid, name, dedicated = os.getuid(), os.getgid(), _user_name(os.getuid()), False
    else:
        uid, gid, name, dedicated = account.uid, account.gid, account.name, True
    return {
        "user": name,
        "uid": uid,
        "gid": gid,
        "dedicated": dedicated,
        "uid_map": f"{bwrap_layer.SANDBOX_UID} {uid} 1",
        "problem": None,
    }


def sandbox_status() -> dict[str, Any]:
    """Describe the layers available here; ``sandboxed`` is False when bubblewrap is missing.

    Keys: ``sandboxed`` (bool), ``bubblewrap`` (``{"path", "version"}`` or None), ``account``
    (see ``account_status``: the host account bubblewrap and the model run as), ``seccomp``
    (bool), ``cgroups`` (controller → ``"v1"``/``"v2"``/None), ``layers`` (the layers a run
    would use, in the same vocabulary as ``SandboxReport.layers``).
    """
    path = bwrap_layer.find_bwrap()
    bubblewrap = {"path": path, "version": bwrap_layer.bwrap_version(path)} if path else None
    seccomp = seccomp_available()
    cgroups = cgroup_status()
    layers = ["bubblewrap"] if bubblewrap else ["unsandboxed"]
    if bubblewrap and seccomp:
        layers.append("seccomp")
    layers.append("rlimits")
    layers += [f"cgroup-{name}" for name, version in cgroups.items() if version]
    return {
        "sandboxed": bubblewrap is not None,
        "bubblewrap": bubblewrap,
        "account": account_status() if bubblewrap else None,
        "seccomp": seccomp,
        "cgroups": cgroups,
        "layers": tuple(layers),
    }
