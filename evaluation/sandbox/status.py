"""What sandbox layers this host offers, for the site's status page and warning banner."""

from __future__ import annotations

from typing import Any

from . import bwrap as bwrap_layer
from .cgroups import cgroup_status
from .seccomp import seccomp_available


def sandbox_status() -> dict[str, Any]:
    """Describe the layers available here; ``sandboxed`` is False when bubblewrap is missing.

    Keys: ``sandboxed`` (bool), ``bubblewrap`` (``{"path", "version"}`` or None), ``seccomp``
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
        "seccomp": seccomp,
        "cgroups": cgroups,
        "layers": tuple(layers),
    }
