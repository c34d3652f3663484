"""Turning a failed child into an error a researcher can act on.

Two sources: an ``error`` reply (the child caught the model's exception and sent the tail of
its traceback) or the child's death (a signal, an exit status, the cgroup's OOM counter, the
last lines of stderr). Both are the model's doing once the model file is opened; a failure
before that is the site's (``startup_failure``). On the hidden split a researcher reads only
``hidden_split_error``'s fixed text for the error's code. Memory exhaustion shows up in several guises -- torch's allocator
refusing under RLIMIT_AS, Python's MemoryError, OpenBLAS aborting, the cgroup OOM killer's
SIGKILL -- and all of them become OutOfMemoryError naming the cap.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import (
    DeadlineExceededError,
    EvaluationError,
    ModelLoadError,
    ModelRaisedError,
    OutOfMemoryError,
    ProtocolViolationError,
    SandboxUnavailableError,
    SandboxViolationError,
)
from .bwrap import START_HINT
from .limits import MIB, SandboxLimits
from .replies import ErrorReply

_MEMORY_MARKERS = (
    "memoryerror",
    "can't allocate memory",
    "cannot allocate memory",
    "std::bad_alloc",
    "out of memory",
    "memory allocation failed",
    "failed to allocate",
)
_FILE_SIZE_MARKERS = ("file too large", "errno 27", "efbig")
# A SIGKILL with the high-water mark this close to the cap is the OOM killer's doing even on
# kernels that do not count OOM kills per cgroup.
_NEAR_CAP = 0.95


@dataclass(frozen=True)
class ExitInfo:
    """How the child ended, as seen from the parent."""

    phase: str
    """"loading" or "predicting"."""
    signal_number: int | None
    """The signal that killed the child, if any."""
    exit_status: int | None
    """The child's exit status, if it exited normally."""
    oom_killed: bool
    """The cgroup recorded an OOM kill."""
    peak_memory_bytes: int | None
    """The cgroup's high-water mark, if known."""
    stderr_tail: tuple[str, ...]
    """Last lines the child wrote to stderr."""


def _mentions(lines: Sequence[str], markers: Sequence[str]) -> bool:
    text = "\n".join(lines).lower()
    return any(marker in text for marker in markers)


def _quote(lines: Sequence[str]) -> str:
    return "\n".join(f"    {line}" for line in lines)


def out_of_memory(limits: SandboxLimits, detail: str = "") -> OutOfMemoryError:
    """The error for a model that ran out of memory."""
    return OutOfMemoryError(
        f"The model ran out of memory: the sandbox caps memory at {limits.memory_mib} MiB"
        f"{detail}. Reduce the model's size or its activations per batch (e.g. fewer or "
        "narrower layers, no large intermediate tensors)."
    )


def file_too_large(limits: SandboxLimits) -> SandboxViolationError:
    """The error for a model that tried to write a file beyond the file-size cap."""
    return SandboxViolationError(
        "The model tried to write a file larger than the sandbox allows "
        f"({limits.file_size_bytes // MIB} MiB per file). Models must not write files."
    )


def cpu_exhausted(limits: SandboxLimits) -> DeadlineExceededError:
    """The error for a model that used up its CPU-time limit."""
    return DeadlineExceededError(
        f"The model used up the sandbox's CPU-time limit of {limits.cpu_seconds} CPU seconds "
        "and was stopped. Check forward() for endless loops, or make inference cheaper."
    )


def wall_deadline(limits: SandboxLimits, phase: str, elapsed: float) -> DeadlineExceededError:
    """The error for a session that ran past the wall-clock deadline."""
    return DeadlineExceededError(
        f"The model did not finish within the sandbox's wall-clock deadline of "
        f"{limits.wall_seconds:g} seconds (stopped after {elapsed:.1f} s while {phase}). "
        "Check forward() for endless loops or very slow operations, or make inference faster."
    )


def error_from_reply(reply: ErrorReply, limits: SandboxLimits) -> EvaluationError:
    """Map a child's checked ``error`` reply to an error; its lines are untrusted text.

    The text chooses at most which of these errors it becomes; on the hidden split only the
    error's code reaches the researcher (see ``hidden_split_error``).
    """
    lines = list(reply.lines)
    if _mentions(lines, _MEMORY_MARKERS):
        return out_of_memory(limits)
    if _mentions(lines, _FILE_SIZE_MARKERS):
        return file_too_large(limits)
    if reply.kind == "load":
        return ModelLoadError(
            "The model file could not be loaded inside the sandbox. It must be saved with "
            "torch.jit.save(torch.jit.script(model)) or torch.export.save(...) using torch "
            f"on the CPU. The loader said:\n{_quote(lines)}"
        )
    return ModelRaisedError(
        f"The model raised an exception while running. Last lines of its traceback:\n{_quote(lines)}"
    )


def protocol_violation(reason: str) -> ProtocolViolationError:
    """The error for a child that broke the protocol (``reason`` is the parent's own words)."""
    return ProtocolViolationError(
        f"The model's process broke the evaluation protocol ({reason}) and was stopped. A model "
        "saved with torch.jit.save or torch.export.save cannot do this; the upload counts "
        "against your quota."
    )


def startup_failure(phase_detail: str, *, stderr_tail: Sequence[str]) -> SandboxUnavailableError:
    """The error for a sandbox that failed before the model file was opened: the site's fault.

    Only the evaluator's own code has run at that point (bubblewrap, the interpreter, the
    imports of numpy and torch), so the failure cannot be the model's. What bubblewrap said
    goes to the site's logs, not to the researcher: it names host paths.
    """
    return SandboxUnavailableError(
        "The sandbox could not be started on the worker, before your model was opened. This is "
        "the site's fault: it does not count against your quota, and the maintainers have the "
        "details. Resubmit later.",
        private_detail=f"{phase_detail}. {START_HINT}\n{_quote(list(stderr_tail)[-10:])}",
    )


# What a researcher reads when a model fails on the hidden split: fixed text per code, with
# only numbers the site itself set (the caps). The model chooses at most which code it gets.
_HIDDEN_TEMPLATES: dict[str, str] = {
    "model_raised": (
        "The model raised an exception while running on the hidden test split. It ran without "
        "error on the preflight slice of the public dev split, so the exception depends on the "
        "inputs. Messages and tracebacks from hidden inputs are never shown: evaluate the model "
        "locally on the whole dev split (python -m evaluation evaluate) to find the input that "
        "makes it raise."
    ),
    "malformed_output": (
        "On the hidden test split the model's output was not the expected [B, C] float32 "
        "logits with finite values (one row per input, one column per class). It was correct on "
        "the preflight slice of the public dev split, so it depends on the inputs: check "
        "forward() for data-dependent shapes, dtypes, NaN or Inf."
    ),
    "sandbox_violation": (
        "While running on the hidden test split the model attempted something the sandbox "
        "forbids (a forbidden system call or a file beyond the size cap) and was stopped."
    ),
    "protocol_violation": (
        "While running on the hidden test split the model's process broke the evaluation "
        "protocol and was stopped. A model saved with torch.jit.save or torch.export.save "
        "cannot do this."
    ),
    "model_load_failed": "The model's process stopped while running on the hidden test split.",
}


def hidden_split_error(error: EvaluationError, limits: SandboxLimits) -> EvaluationError:
    """The same kind of error as ``error``, with a message that carries nothing the model wrote.

    Messages about the caps name only the caps; the elapsed time, the phase, tracebacks,
    returned shapes and echoed bytes are all dropped.
    """
    code = error.code
    if isinstance(error, OutOfMemoryError):
        return out_of_memory(limits)
    if isinstance(error, DeadlineExceededError):
        return DeadlineExceededError(
            "The model did not finish on the hidden test split within the sandbox's limits "
            f"({limits.wall_seconds:g} wall-clock seconds for the whole session, "
            f"{limits.cpu_seconds} CPU seconds). Make inference faster."
        )
    if isinstance(error, SandboxUnavailableError):
        return error
    template = _HIDDEN_TEMPLATES.get(code, _HIDDEN_TEMPLATES["model_load_failed"])
    replacement = type(error)(template, private_detail=error.message)
    return replacement


def error_from_exit(info: ExitInfo, limits: SandboxLimits) -> EvaluationError:
    """Map the death of the child (no reply) to an error."""
    tail = list(info.stderr_tail)
    near_cap = info.peak_memory_bytes is not None and info.peak_memory_bytes >= _NEAR_CAP * limits.memory_bytes
    if info.oom_killed or (info.signal_number == signal.SIGKILL and near_cap):
        return out_of_memory(limits, " and the kernel stopped the model at that cap")
    if info.signal_number == signal.SIGXCPU:
        return cpu_exhausted(limits)
    if info.signal_number == signal.SIGXFSZ:
        return file_too_large(limits)
    if _mentions(tail, _MEMORY_MARKERS):
        return out_of_memory(limits)
    if info.signal_number == signal.SIGSYS:
        return SandboxViolationError("The model made a system call the sandbox forbids and was stopped.")
    if info.signal_number is not None:
        try:
            name = signal.Signals(info.signal_number).name
        except ValueError:
            name = f"signal {info.signal_number}"
        how = f"was killed by {name}"
    else:
        how = f"exited with status {info.exit_status}"
    error_class = ModelLoadError if info.phase == "loading" else ModelRaisedError
    detail = f" Last lines of its error output:\n{_quote(tail[-10:])}" if tail else ""
    return error_class(f"The model process {how} while {info.phase}.{detail}")
