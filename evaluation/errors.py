"""Errors raised by the evaluation library.

Every error carries a short machine-readable ``code`` and a message written for the person who
has to act on it (a researcher whose model failed, a maintainer whose spec is malformed).
``infrastructure`` marks failures that are the site's fault rather than the submission's; those
do not count against a researcher's quota. Only the evaluator's own evidence sets it (bubblewrap
failing before the model file was opened), never text that the model's process wrote.
"""

from __future__ import annotations


class EvaluationError(Exception):
    """Base class: ``code`` names the failure, ``str(error)`` explains it to a person."""

    code = "evaluation_error"
    infrastructure = False
    preflight = False
    """Set on a failure of the preflight (public items, before any hidden one): it costs no quota."""

    def __init__(self, message: str, *, private_detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.private_detail = private_detail
        """Details for the site's logs only (host paths, bubblewrap's own words), never shown."""


class SpecError(EvaluationError):
    """A benchmark folder, its ``benchmark.toml`` or one of its arrays is malformed."""

    code = "invalid_spec"


class ModelFileError(EvaluationError):
    """The uploaded file is not an acceptable TorchScript or torch.export archive."""

    code = "invalid_model_file"


class ModelLoadError(EvaluationError):
    """The model file could not be loaded inside the sandbox."""

    code = "model_load_failed"


class ModelRaisedError(EvaluationError):
    """The model raised an exception while running; the message ends with its last lines."""

    code = "model_raised"


class MalformedOutputError(EvaluationError):
    """The model returned logits of the wrong shape, dtype, size, or with NaN/Inf values."""

    code = "malformed_output"


class OutOfMemoryError(EvaluationError):
    """The model exceeded the memory cap of the sandbox."""

    code = "out_of_memory"


class DeadlineExceededError(EvaluationError):
    """The model exceeded the wall-clock or CPU-time limit of the sandbox."""

    code = "deadline_exceeded"


class SandboxViolationError(EvaluationError):
    """The model attempted something the sandbox forbids (a denied system call, a huge file)."""

    code = "sandbox_violation"


class ProtocolViolationError(EvaluationError):
    """The model's process sent the evaluator something the protocol does not allow."""

    code = "protocol_violation"


class SandboxUnavailableError(EvaluationError):
    """The sandbox cannot be started on this machine (for example bubblewrap is missing)."""

    code = "sandbox_unavailable"
    infrastructure = True


class PerturbedInputError(Exception):
    """The stored perturbed inputs of a version are missing, altered or of another version.

    A maintainer's problem, not a submission's: it is deliberately not an ``EvaluationError``,
    so no submission is ever failed with it as if the model were at fault.
    """
