"""Running untrusted model files: bubblewrap, seccomp, rlimits and cgroups around one child.

See SECURITY.md for the threat model and what each layer stops.
"""

from __future__ import annotations

from .gradients import AttackResult, SaliencyResult
from .limits import SandboxLimits, SandboxReport
from .process import SandboxedModel
from .status import sandbox_status

__all__ = ["AttackResult", "SaliencyResult", "SandboxLimits", "SandboxReport", "SandboxedModel", "sandbox_status"]
