"""The preflight: public items every model runs on before it sees the hidden split.

The server runs it on every upload, in the same sandboxed session as the evaluation, and shows
every detail of a failure here (the items are public). It also catches the two export mistakes
that otherwise surface as a puzzling failure or a silently wrong score:

- **a fixed batch size**: the model runs first on one item, then on three, then on a full batch
  and a batch of one. A model that works on one of the small batches but not the other depends
  on the batch size (a ``torch.export`` program without a dynamic batch dimension, a traced
  reshape to a constant), and the error says what to change; one that takes both small batches
  but not the full one is told about a largest batch size below the site's. ``torch.export``
  archives that fix the batch size are refused even earlier, at upload, from their program
  (``archive_batch``);
- **probabilities instead of logits**: outputs whose rows are all non-negative and sum to 1 would
  be put through softmax a second time. For uploads (``refuse_probabilities``) this is a
  ``malformed_output`` failure saying to return logits.

``preflight_model`` runs the whole of it (the upload checks, then the sandboxed preflight)
outside the site, so a researcher can check a file before uploading it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluation.archive import ModelFileInfo, inspect_model_file
from evaluation.calibration import outputs_are_probabilities
from evaluation.errors import EvaluationError, MalformedOutputError, ModelRaisedError
from evaluation.public import load_for_evaluation
from evaluation.sandbox import SandboxedModel, SandboxLimits

#: The small batches the preflight tries before the full one: a model that takes one of them
#: and not the other has a fixed batch size.
PROBE_BATCHES = (1, 3)
DYNAMIC_BATCH_FIX = (
    "Export it so any batch size works: for torch.export, "
    "torch.export.export(model, (example,), dynamic_shapes={'x': {0: torch.export.Dim('batch')}}) "
    "with your forward argument's name for 'x'; for TorchScript, torch.jit.script the model (a trace "
    "records the example's batch size wherever the code turns it into a number) and reshape with "
    "x.shape[0] or -1, never a constant batch size."
)
PROBABILITIES_FIX = (
    "Return logits (remove the final softmax), or log-probabilities (torch.log_softmax), whose "
    "softmax is the same distribution."
)
# Failures that a batch of another size can explain; running out of memory or time cannot.
_BATCH_DEPENDENT = (ModelRaisedError, MalformedOutputError)


def preflight_slice(dev_inputs: np.ndarray, batch_size: int) -> np.ndarray:
    """The public items every submission runs on first: a full batch and a batch of one.

    The first ``batch_size + 1`` items of the dev split (all of them if it is smaller), so a
    model that cannot take the batch sizes of the hidden run (a fixed batch dimension, a last
    batch of one) fails here, where its traceback can be shown.
    """
    return np.ascontiguousarray(dev_inputs[: batch_size + 1], dtype=np.float32)


def preflight_batches(n_items: int, batch_size: int) -> int:
    """How many batches the preflight sends a model that passes it, for ``n_items`` public items."""
    probes = len(PROBE_BATCHES) if n_items >= max(PROBE_BATCHES) else 0
    return probes + -(-n_items // batch_size)


def run_preflight(
    model: SandboxedModel,
    inputs: np.ndarray,
    *,
    n_classes: int,
    reopen: Callable[[], SandboxedModel] | None = None,
    refuse_probabilities: bool = False,
) -> np.ndarray:
    """Predict public ``inputs`` (small probe batches first) and return the logits of ``inputs``.

    A failure is re-raised, with its code, saying it happened on the preflight. When the model
    fails on one item, ``reopen`` (a fresh session of the same model, since a failure ends a
    session) tries three items, so a fixed batch size is named as such either way. With
    ``refuse_probabilities`` outputs that are already probabilities are a ``malformed_output``.
    """
    try:
        probed = _probe_batch_sizes(model, inputs, n_classes=n_classes, reopen=reopen)
        try:
            logits = model.predict(inputs, n_classes=n_classes)
        except _BATCH_DEPENDENT as error:
            if not probed:
                raise
            raise _too_large(error, min(len(inputs), model.batch_size)) from error
        if refuse_probabilities and outputs_are_probabilities(logits):
            raise MalformedOutputError(
                f"every row of the model's outputs is non-negative and sums to 1 (over {len(inputs)} "
                f"items): these are probabilities, not logits. The evaluator applies softmax itself, so "
                f"probabilities would be scored as softmax(probabilities): the accuracy would be right "
                f"but the log loss, Brier score and calibration wrong. {PROBABILITIES_FIX}"
            )
    except EvaluationError as error:
        failure = type(error)(
            f"Preflight on the first {len(inputs)} items of the public dev split (every detail "
            f"is shown here; the hidden test split was not used): {error.message}",
            private_detail=error.private_detail,
        )
        failure.preflight = True
        raise failure from error
    return logits


def _probe_batch_sizes(
    model: SandboxedModel, inputs: np.ndarray, *, n_classes: int, reopen: Callable[[], SandboxedModel] | None
) -> bool:
    """Run the probe batches; raise a batch-size error when one passes and another fails.

    Returns whether the probes ran (``inputs`` may be too few for them).
    """
    small, other = PROBE_BATCHES
    if len(inputs) < other:
        return False
    try:
        model.predict(inputs[:small], n_classes=n_classes)
    except _BATCH_DEPENDENT as error:
        if reopen is not None and _runs_on(reopen, inputs[:other], n_classes):
            raise _fixed_batch(error, works=other, fails=small) from error
        raise
    try:
        model.predict(inputs[:other], n_classes=n_classes)
    except _BATCH_DEPENDENT as error:
        raise _fixed_batch(error, works=small, fails=other) from error
    return True


def _runs_on(reopen: Callable[[], SandboxedModel], inputs: np.ndarray, n_classes: int) -> bool:
    try:
        with reopen() as fresh:
            fresh.predict(inputs, n_classes=n_classes)
    except EvaluationError:
        return False
    return True


def _fixed_batch(error: EvaluationError, *, works: int, fails: int) -> EvaluationError:
    items = {1: "1 item", 3: "3 items"}
    return type(error)(
        f"the model has a fixed batch size: it ran on a batch of {items[works]} but failed on a batch "
        f"of {items[fails]}, and the site sends batches of up to its batch size and a smaller last one. "
        f"{DYNAMIC_BATCH_FIX} The failure on {items[fails]}: {error.message}",
        private_detail=error.private_detail,
    )


def _too_large(error: EvaluationError, batch: int) -> EvaluationError:
    return type(error)(
        f"the model ran on batches of 1 and 3 items but failed on a batch of {batch}, the size of the "
        f"site's batches: if it declares a largest batch size (torch.export.Dim('batch', max=...)), "
        f"raise it to at least {batch} or leave it out. The failure: {error.message}",
        private_detail=error.private_detail,
    )


@dataclass(frozen=True)
class PreflightResult:
    """What a model that passed the preflight was checked on."""

    file: ModelFileInfo
    """The upload checks' findings (format, sha256, size)."""
    n_items: int
    """Public dev items it ran on."""


def preflight_model(
    model_path: Path,
    folder: Path,
    *,
    limits: SandboxLimits | None = None,
    allow_unsandboxed: bool = False,
    batch_size: int = 256,
    max_upload_bytes: int = 1 << 30,
) -> PreflightResult:
    """The server's checks of an upload, run locally: the upload checks, then the sandboxed preflight.

    ``folder`` is a benchmark folder (complete, or the public files ``fetch`` writes). Raises the
    ``EvaluationError`` the site would record, with its message; refuses probabilities as the site
    does for uploads.
    """
    info = inspect_model_file(Path(model_path), max_bytes=max_upload_bytes)
    dataset = load_for_evaluation(Path(folder), "dev")
    inputs = preflight_slice(dataset.data.inputs, batch_size)

    def session() -> SandboxedModel:
        return SandboxedModel(
            Path(model_path),
            limits=limits or SandboxLimits(),
            allow_unsandboxed=allow_unsandboxed,
            batch_size=batch_size,
        )

    with session() as model:
        run_preflight(model, inputs, n_classes=len(dataset.spec.classes), reopen=session, refuse_probabilities=True)
    return PreflightResult(file=info, n_items=len(inputs))
