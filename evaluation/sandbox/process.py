"""``SandboxedModel``: one sandboxed child per model, fed every batch of every condition.

The parent (trusted) owns a scratch IO folder with an ``in/`` folder for inputs and one
``out.npy`` file for logits; it starts the child under every available layer (``launch.py``),
talks to it over two pipes, enforces the wall-clock deadline, validates every output, and on
any failure or exit kills the child's whole process group (and everything in its cgroup) and
deletes the folder.

Two rules keep the model from speaking through the evaluator. Every reply is checked by type
and range (``replies.py``), and a failure is the site's fault only when the parent saw it happen
before the child announced that it was opening the model. ``hidden()`` marks the inputs that
follow as secret: a failure on them is reported with a fixed message per error code
(``diagnosis.hidden_split_error``), never with anything the model wrote.

Besides ``predict``, ``attack`` (label-free FGSM and PGD) and ``saliency`` run the model's input
gradients in the same child; their arguments, results and reasons live in ``gradients.py``.
"""

from __future__ import annotations

import functools
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from ..archive import inspect_model_file
from ..errors import EvaluationError, SandboxUnavailableError
from . import bwrap as bwrap_layer
from .channel import ChannelClosed, ChannelTimeout, ProtocolViolation
from .diagnosis import (
    ExitInfo,
    error_from_exit,
    error_from_reply,
    hidden_split_error,
    protocol_violation,
    startup_failure,
    wall_deadline,
)
from .gradients import (
    ZERO_GRADIENTS,
    AttackResult,
    SaliencyResult,
    attack_settings,
    checked_targets,
    chunk_seed,
    no_gradient_reason,
    saliency_result,
)
from .launch import ChildHandle, start_child
from .limits import MIB, SandboxLimits, SandboxReport
from .outputs import malformed_from_reply, read_logits, read_rows
from .replies import (
    ErrorReply,
    GradientsDone,
    Malformed,
    NoGradient,
    parse_gradient_reply,
    parse_loading_reply,
    parse_predict_reply,
)

# Inputs are handed over in chunks of at most this many bytes, so the IO folder never holds
# more than one chunk (a whole hidden split may be gigabytes).
_MAX_CHUNK_INPUT_BYTES = 256 * MIB


class SandboxedModel:
    """A model file running in its own sandboxed child; use it as a context manager."""

    def __init__(
        self,
        model_path: Path,
        *,
        limits: SandboxLimits | None = None,
        allow_unsandboxed: bool = False,
        batch_size: int = 256,
    ) -> None:
        """Prepare (but do not start) a sandboxed run of ``model_path``.

        ``limits`` are ``SandboxLimits()`` unless given. ``allow_unsandboxed`` permits running
        without bubblewrap (rlimits, cgroups and the deadline still apply) when bubblewrap is
        missing; it is meant for local development.
        """
        if int(batch_size) < 1:
            raise ValueError("batch_size must be at least 1")
        self.model_path = Path(model_path)
        self.limits = limits if limits is not None else SandboxLimits()
        self.allow_unsandboxed = allow_unsandboxed
        self.batch_size = int(batch_size)
        self._child = ChildHandle()
        self._format = ""
        self._deadline = 0.0
        self._startup_seconds = 0.0
        self._batch_seconds: list[float] = []
        self._items = 0
        self._parameter_count: int | None = None
        self._child_peak_rss: int | None = None
        self._failure: EvaluationError | None = None
        self._sequence = 0
        self._hidden = False

    # Lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> SandboxedModel:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Kill the child's process group and cgroup, and delete the scratch IO folder."""
        self._child.close()

    def _start(self) -> None:
        limits = self.limits
        # Refuse anything that is not a model archive before giving it to torch, even sandboxed.
        info = inspect_model_file(self.model_path, max_bytes=limits.memory_bytes)
        self._format = info.format
        bwrap = bwrap_layer.find_bwrap()
        if bwrap is None and not self.allow_unsandboxed:
            raise SandboxUnavailableError(
                "bubblewrap (bwrap) is not installed, so untrusted models are not run. " + bwrap_layer.INSTALL_HINT
            )
        start_child(
            self._child,
            model_path=self.model_path,
            model_format=info.format,
            limits=limits,
            bwrap=bwrap,
        )
        self._deadline = self._child.started_at + limits.wall_seconds
        self._await_opening()
        try:
            loaded = parse_loading_reply(self._receive("loading"))
        except ProtocolViolation as violation:
            raise self._fail(protocol_violation(str(violation))) from None
        if isinstance(loaded, ErrorReply):
            raise self._fail(error_from_reply(loaded, limits))
        self._startup_seconds = time.monotonic() - self._child.started_at
        self._parameter_count = loaded.parameter_count
        self._note_rss(loaded.max_rss_bytes)

    def _await_opening(self) -> None:
        """Wait for the child to announce that it opens the model; any failure before is ours.

        Up to that message only bubblewrap, the interpreter and the child program have run, so
        the parent's own observation (no message, an exit, an error reported by trusted code)
        is evidence that the sandbox, not the model, failed.
        """
        channel = self._child.channel
        assert channel is not None
        try:
            first = channel.receive(self._deadline)
        except ChannelTimeout:
            raise self._fail(startup_failure("the sandbox did not start in time", stderr_tail=())) from None
        except (ChannelClosed, ProtocolViolation) as problem:
            tail = self._exit_stderr()
            raise self._fail(
                startup_failure(f"the sandbox stopped while starting ({problem!r})", stderr_tail=tail)
            ) from None
        if first.get("op") != "opening":
            lines = first.get("traceback")
            tail = [str(line)[:500] for line in lines[-10:]] if isinstance(lines, list) else []
            raise self._fail(
                startup_failure("the sandbox's interpreter could not import numpy and torch", stderr_tail=tail)
            )

    def _exit_stderr(self) -> list[str]:
        """The last lines of stderr once the child is gone (trusted only before opening)."""
        child = self._child
        assert child.process is not None and child.channel is not None
        try:
            child.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
        child.channel.drain(timeout=1.0)
        return child.channel.stderr.last_lines(10)

    def begin_hidden_inputs(self) -> None:
        """From now on inputs are secret: a failure says only its code, in the site's words.

        There is no way back: once the model has seen hidden inputs, anything it reports may
        carry them. The session's report covers the hidden inputs from here on: the timings and
        the item count of earlier (public) inputs are dropped.
        """
        self._hidden = True
        self._batch_seconds.clear()
        self._items = 0

    # Talking to the child -----------------------------------------------------------------

    def _receive(self, phase: str) -> dict[str, Any]:
        """Wait for the child's next message; a timeout or a dead child raises."""
        channel = self._child.channel
        assert channel is not None
        try:
            return channel.receive(self._deadline)
        except ChannelTimeout:
            elapsed = time.monotonic() - self._child.started_at
            raise self._fail(wall_deadline(self.limits, phase, elapsed)) from None
        except ChannelClosed:
            raise self._fail(self._diagnose_exit(phase)) from None
        except ProtocolViolation as violation:
            raise self._fail(protocol_violation(str(violation))) from None

    def _diagnose_exit(self, phase: str) -> EvaluationError:
        child = self._child
        tail = self._exit_stderr()
        assert child.process is not None
        status = child.process.returncode
        signal_number: int | None = None
        exit_status: int | None = status
        if status is not None and status < 0:
            signal_number, exit_status = -status, None
        elif status is not None and status > 128 and "bubblewrap" in child.layers:
            # bubblewrap reports a child killed by signal N as exit status 128 + N.
            signal_number, exit_status = status - 128, None
        cgroup = child.cgroup
        info = ExitInfo(
            phase=phase,
            signal_number=signal_number,
            exit_status=exit_status,
            oom_killed=cgroup.oom_killed() if cgroup else False,
            peak_memory_bytes=cgroup.peak_memory_bytes() if cgroup else None,
            stderr_tail=tuple(tail),
        )
        return error_from_exit(info, self.limits)

    def _fail(self, error: EvaluationError) -> EvaluationError:
        """Remember ``error``, stop the child, and return the error for raising.

        After hidden inputs were given, the message is replaced by the fixed text for its code.
        """
        if self._hidden:
            error = hidden_split_error(error, self.limits)
        self._failure = error
        self._child.kill()
        return error

    def _note_rss(self, rss: int | None) -> None:
        if rss is not None and rss > 0:
            self._child_peak_rss = max(rss, self._child_peak_rss or 0)

    # Public API ---------------------------------------------------------------------------

    def predict(self, inputs: np.ndarray, *, n_classes: int) -> np.ndarray:
        """Run the model on ``inputs`` (float32 ``[N, *shape]``) and return its logits.

        Returns float32 ``[N, n_classes]``, validated for shape, dtype, size and finiteness.
        Raises an EvaluationError subclass describing any failure; after one, the child is
        stopped and every later call raises the same error.
        """
        if self._failure is not None:
            raise self._failure
        if self._child.process is None or self._child.scratch is None:
            raise RuntimeError("SandboxedModel.predict() must be called inside `with`")
        if not isinstance(inputs, np.ndarray) or inputs.dtype != np.float32 or inputs.ndim < 2:
            raise TypeError("inputs must be a float32 numpy array of shape [N, *input_shape]")
        n_classes = int(n_classes)
        if n_classes < 1:
            raise ValueError("n_classes must be at least 1")
        total = len(inputs)
        if total == 0:
            return np.empty((0, n_classes), dtype=np.float32)
        # Chunks bound both the input file and the output file (which RLIMIT_FSIZE caps).
        row_in = max(1, inputs[0].nbytes)
        row_out = 4 * n_classes
        rows = min(
            total,
            max(1, _MAX_CHUNK_INPUT_BYTES // row_in),
            max(1, (self.limits.file_size_bytes - 4096) // row_out),
        )
        if rows < total and rows >= self.batch_size:
            # Whole batches per chunk, so chunking does not change how the model is batched.
            rows -= rows % self.batch_size
        results = [self._predict_chunk(inputs[start : start + rows], n_classes) for start in range(0, total, rows)]
        return results[0] if len(results) == 1 else np.concatenate(results)

    def _predict_chunk(self, chunk: np.ndarray, n_classes: int) -> np.ndarray:
        scratch, channel = self._child.scratch, self._child.channel
        assert scratch is not None and channel is not None
        self._sequence += 1
        name = f"input-{self._sequence:06d}.npy"
        input_path = scratch / "in" / name
        np.save(input_path, np.ascontiguousarray(chunk), allow_pickle=False)
        # Readable by the sandbox account's group whatever the worker's umask (the folder's
        # set-group-id bit gives the file that group); nobody else may read hidden inputs.
        os.chmod(input_path, 0o640)
        batches = -(-len(chunk) // self.batch_size)
        began = time.monotonic()
        try:
            try:
                channel.send(
                    {
                        "op": "predict",
                        "input": name,
                        "batch_size": self.batch_size,
                        "n_classes": n_classes,
                    }
                )
            except ChannelClosed:
                raise self._fail(self._diagnose_exit("predicting")) from None
            raw = self._receive("predicting")
        finally:
            input_path.unlink(missing_ok=True)
        elapsed = time.monotonic() - began
        try:
            reply = parse_predict_reply(raw, batches=batches, wall_seconds=elapsed)
        except ProtocolViolation as violation:
            raise self._fail(protocol_violation(str(violation))) from None
        if isinstance(reply, Malformed):
            raise self._fail(malformed_from_reply(reply, n_classes, self.batch_size, len(chunk)))
        if isinstance(reply, ErrorReply):
            raise self._fail(error_from_reply(reply, self.limits))
        try:
            logits = read_logits(scratch / "out.npy", items=len(chunk), n_classes=n_classes)
        except EvaluationError as error:
            raise self._fail(error) from None
        self._batch_seconds.extend(reply.batch_seconds)
        self._items += len(chunk)
        self._note_rss(reply.max_rss_bytes)
        return logits

    # Gradient operations ----------------------------------------------------------------

    def attack(
        self,
        inputs: np.ndarray,
        *,
        n_classes: int,
        method: str,
        eps: float,
        low: float,
        high: float,
        seed: int,
        steps: int = 10,
    ) -> AttackResult:
        """Attack the model's own clean predictions (L∞, label-free) and return its logits.

        ``method`` is "fgsm" (one signed-gradient step of size ``eps``) or "pgd" (``steps``
        steps of ``eps / 4`` from one random start seeded with ``seed``, projected onto the
        ``eps``-ball and ``[low, high]``); the loss is the cross-entropy of the model's output
        against its prediction on the clean batch (see ``child.py``). A model whose input
        gradients are zero for every item, not finite, or raise is "not attackable", with a
        reason. Malformed or non-finite logits, and every session failure, raise as in
        ``predict``.
        """
        settings = attack_settings(method=method, eps=eps, low=low, high=high, seed=seed, steps=steps)
        n_classes = self._check_request(inputs, n_classes)
        parts: list[np.ndarray] = []
        moved = False
        for index, chunk in enumerate(self._gradient_chunks(inputs, 4 * n_classes)):
            request = {"op": "attack", "n_classes": n_classes, **settings, "seed": chunk_seed(seed, index)}
            reply = self._gradient_request(request, {"input": chunk}, n_classes)
            if isinstance(reply, NoGradient):
                return AttackResult(None, False, no_gradient_reason(reply, hidden=self._hidden))
            moved = moved or not reply.zero_gradients
            parts.append(self._read_output(functools.partial(read_logits, items=len(chunk), n_classes=n_classes)))
        if not parts:
            return AttackResult(np.empty((0, n_classes), dtype=np.float32), True, None)
        if not moved:
            return AttackResult(None, False, ZERO_GRADIENTS)
        return AttackResult(parts[0] if len(parts) == 1 else np.concatenate(parts), True, None)

    def saliency(self, inputs: np.ndarray, *, n_classes: int, targets: np.ndarray) -> SaliencyResult:
        """``|∂ z_t / ∂x|`` per item, flattened to float32 ``[N, prod(input shape)]``.

        ``z_t`` is the model's logit of ``targets[i]`` (int64 ``[N]``: the model's own clean
        predictions, never labels). Maps that are not finite, or zero for every item, and a
        model that raises, give ``usable=False`` with a reason.
        """
        n_classes = self._check_request(inputs, n_classes)
        targets = checked_targets(targets, items=len(inputs), n_classes=n_classes)
        width = int(np.prod(inputs.shape[1:]))
        parts: list[np.ndarray] = []
        start = 0
        for chunk in self._gradient_chunks(inputs, 4 * width):
            files = {"input": chunk, "targets": targets[start : start + len(chunk)]}
            start += len(chunk)
            reply = self._gradient_request({"op": "saliency", "n_classes": n_classes}, files, n_classes)
            if isinstance(reply, NoGradient):
                return SaliencyResult(None, False, no_gradient_reason(reply, hidden=self._hidden))
            expected = f"float32 saliency maps of shape [{len(chunk)}, {width}]"
            read = functools.partial(read_rows, items=len(chunk), columns=width, expected=expected, hint="")
            parts.append(self._read_output(read))
        if not parts:
            return SaliencyResult(np.empty((0, width), dtype=np.float32), True, None)
        try:
            return saliency_result(parts[0] if len(parts) == 1 else np.concatenate(parts))
        except EvaluationError as error:
            raise self._fail(error) from None

    def _check_request(self, inputs: np.ndarray, n_classes: int) -> int:
        if self._failure is not None:
            raise self._failure
        if self._child.process is None or self._child.scratch is None:
            raise RuntimeError("SandboxedModel must be used inside `with`")
        if not isinstance(inputs, np.ndarray) or inputs.dtype != np.float32 or inputs.ndim < 2:
            raise TypeError("inputs must be a float32 numpy array of shape [N, *input_shape]")
        if int(n_classes) < 1:
            raise ValueError("n_classes must be at least 1")
        return int(n_classes)

    def _gradient_chunks(self, inputs: np.ndarray, row_out: int) -> list[np.ndarray]:
        """Whole batches per chunk, bounded like ``predict``'s by the input and output caps."""
        total = len(inputs)
        rows = min(
            total,
            max(1, _MAX_CHUNK_INPUT_BYTES // max(1, inputs[0].nbytes if total else 1)),
            max(1, (self.limits.file_size_bytes - 4096) // row_out),
        )
        if rows < total and rows >= self.batch_size:
            rows -= rows % self.batch_size
        return [inputs[start : start + rows] for start in range(0, total, max(1, rows))]

    def _gradient_request(
        self, request: dict[str, Any], files: dict[str, np.ndarray], n_classes: int
    ) -> GradientsDone | NoGradient:
        """Hand ``files`` to the child, send ``request``, and return its checked reply."""
        scratch, channel = self._child.scratch, self._child.channel
        assert scratch is not None and channel is not None
        self._sequence += 1
        paths = []
        for field, array in files.items():
            name = f"{field}-{self._sequence:06d}.npy"
            path = scratch / "in" / name
            np.save(path, np.ascontiguousarray(array), allow_pickle=False)
            os.chmod(path, 0o640)  # as in _predict_chunk: the sandbox account's group only
            paths.append(path)
            request[field] = name
        items = len(files["input"])
        batches = -(-items // self.batch_size)
        phase = "attacking" if request["op"] == "attack" else "computing saliency"
        try:
            try:
                channel.send({**request, "batch_size": self.batch_size})
            except ChannelClosed:
                raise self._fail(self._diagnose_exit(phase)) from None
            raw = self._receive(phase)
        finally:
            for path in paths:
                path.unlink(missing_ok=True)
        try:
            reply = parse_gradient_reply(raw, operation=str(request["op"]), batches=batches)
        except ProtocolViolation as violation:
            raise self._fail(protocol_violation(str(violation))) from None
        if isinstance(reply, Malformed):
            raise self._fail(malformed_from_reply(reply, n_classes, self.batch_size, items))
        if isinstance(reply, GradientsDone):
            self._note_rss(reply.max_rss_bytes)
        return reply

    def _read_output(self, read: Callable[[Path], np.ndarray]) -> np.ndarray:
        scratch = self._child.scratch
        assert scratch is not None
        try:
            return read(scratch / "out.npy")
        except EvaluationError as error:
            raise self._fail(error) from None

    def report(self) -> SandboxReport:
        """Describe the session so far: layers, timings, items, peak memory, model facts."""
        peak = self._child.cgroup_peak
        if self._child.cgroup is not None:
            peak = self._child.cgroup.peak_memory_bytes() or peak
        source = "cgroup"
        if peak is None:
            peak, source = self._child_peak_rss, "child"
        started = self._child.started_at
        return SandboxReport(
            layers=self._child.layers,
            startup_seconds=self._startup_seconds,
            batch_seconds=tuple(self._batch_seconds),
            items=self._items,
            peak_memory_bytes=peak,
            parameter_count=self._parameter_count,
            model_format=self._format,
            peak_memory_source=source,
            wall_seconds=time.monotonic() - started if started else 0.0,
        )
