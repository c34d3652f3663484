"""Checking the child's replies: every field the parent keeps is typed and bounded here.

Once the model file is opened the child may run code from the model, so each reply is input
from an adversary. A reply is accepted only with the operation the protocol expects at that
point and only with fields of the right type and range: finite numbers, bounded lists and
strings. Anything else raises ``ProtocolViolation``, which the parent books as the model's
failure (it counts against the researcher's quota). Fields are copied into fresh values, so
nothing the child sent (a huge integer, a nested object) survives past these functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .channel import ProtocolViolation

# Bounds on what a reply may carry. A traceback line or a description longer than this is cut,
# not refused: a long exception message is ordinary.
MAX_TEXT_CHARACTERS = 500
MAX_TRACEBACK_LINES = 10
# No model has more parameters than this (a trillion); a larger count is a lie.
MAX_PARAMETER_COUNT = 10**12
MAX_MEMORY_BYTES = 1 << 50

ERROR_KINDS_WHILE_LOADING = frozenset({"load"})
ERROR_KINDS_WHILE_PREDICTING = frozenset({"raised"})
MALFORMED_PROBLEMS = frozenset({"type", "shape", "dtype"})


@dataclass(frozen=True)
class Ready:
    """The child loaded the model."""

    parameter_count: int | None
    max_rss_bytes: int | None


@dataclass(frozen=True)
class Done:
    """The child ran every batch of one request and wrote the logits."""

    batch_seconds: tuple[float, ...]
    max_rss_bytes: int | None


@dataclass(frozen=True)
class ErrorReply:
    """The child caught an exception; ``lines`` is the tail of its traceback."""

    kind: str
    exception: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Malformed:
    """The model returned something other than the expected logits."""

    problem: str
    batch_index: int
    returned: str


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise ProtocolViolation(f"{field} is not a string")
    return value[:MAX_TEXT_CHARACTERS]


def _integer(value: Any, field: str, *, low: int, high: int) -> int:
    # bool is an int in Python; the protocol never sends one where a count belongs.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProtocolViolation(f"{field} is not an integer in [{low}, {high}]")
    return int(value)


def _optional_integer(value: Any, field: str, *, high: int) -> int | None:
    return None if value is None else _integer(value, field, low=0, high=high)


def _seconds(value: Any, field: str, *, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolViolation(f"{field} is not a number")
    number = float(value)
    if not math.isfinite(number) or not 0.0 <= number <= high:
        raise ProtocolViolation(f"{field} is not a duration in [0, {high:.3g}] seconds")
    return number


def _expect(reply: dict[str, Any], operations: set[str]) -> str:
    op = reply.get("op")
    if op not in operations:
        raise ProtocolViolation(f"unexpected operation {str(op)[:40]!r}")
    return str(op)


def parse_error(reply: dict[str, Any], kinds: frozenset[str]) -> ErrorReply:
    """An ``error`` reply whose ``kind`` is one the current phase allows."""
    kind = reply.get("kind")
    if kind not in kinds:
        raise ProtocolViolation(f"error of kind {str(kind)[:40]!r} at this point")
    raw = reply.get("traceback", [])
    if not isinstance(raw, list) or len(raw) > 1000:
        raise ProtocolViolation("traceback is not a list of lines")
    lines = tuple(_text(line, "traceback line") for line in raw[-MAX_TRACEBACK_LINES:])
    return ErrorReply(kind=str(kind), exception=_text(reply.get("exception", ""), "exception"), lines=lines)


def parse_loading_reply(reply: dict[str, Any]) -> Ready | ErrorReply:
    """The reply to loading the model: ``ready`` or a load error."""
    if _expect(reply, {"ready", "error"}) == "error":
        return parse_error(reply, ERROR_KINDS_WHILE_LOADING)
    return Ready(
        parameter_count=_optional_integer(reply.get("parameter_count"), "parameter_count", high=MAX_PARAMETER_COUNT),
        max_rss_bytes=_optional_integer(reply.get("max_rss_bytes"), "max_rss_bytes", high=MAX_MEMORY_BYTES),
    )


def _parse_malformed(reply: dict[str, Any], batches: int) -> Malformed:
    problem = reply.get("problem")
    if problem not in MALFORMED_PROBLEMS:
        raise ProtocolViolation("malformed reply without a known problem")
    return Malformed(
        problem=str(problem),
        batch_index=_integer(reply.get("batch_index"), "batch_index", low=0, high=max(0, batches - 1)),
        returned=_text(reply.get("returned", ""), "returned")[:200],
    )


def parse_predict_reply(reply: dict[str, Any], *, batches: int, wall_seconds: float) -> Done | ErrorReply | Malformed:
    """The reply to one ``predict`` request of ``batches`` batches, timed by the parent.

    A ``done`` reply must give exactly one duration per batch, none longer than the request's
    whole wall-clock time as the parent measured it.
    """
    op = _expect(reply, {"done", "error", "malformed"})
    if op == "error":
        return parse_error(reply, ERROR_KINDS_WHILE_PREDICTING)
    if op == "malformed":
        return _parse_malformed(reply, batches)
    raw = reply.get("batch_seconds")
    if not isinstance(raw, list) or len(raw) != batches:
        raise ProtocolViolation(f"batch_seconds does not hold one duration for each of {batches} batches")
    # The parent's clock is the bound: it started timing before the request and stopped after
    # the reply, so no batch can honestly take longer.
    limit = max(0.0, wall_seconds)
    seconds = tuple(_seconds(value, "batch_seconds", high=limit) for value in raw)
    if sum(seconds) > limit * 1.01 + 0.01:
        raise ProtocolViolation("batch_seconds add up to more than the request took")
    return Done(
        batch_seconds=seconds,
        max_rss_bytes=_optional_integer(reply.get("max_rss_bytes"), "max_rss_bytes", high=MAX_MEMORY_BYTES),
    )


# The gradient operations (``attack`` and ``saliency``) -------------------------------------

NO_GRADIENT_REASONS = frozenset({"nonfinite", "raised"})
_IDENTIFIER_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")


@dataclass(frozen=True)
class GradientsDone:
    """The child ran a gradient operation over every batch and wrote its output file."""

    zero_gradients: bool
    """For an attack: every input gradient it took was exactly zero (false for saliency)."""
    max_rss_bytes: int | None


@dataclass(frozen=True)
class NoGradient:
    """The model's input gradients could not be used: not finite, or the model raised."""

    reason: str
    exception: str
    """The exception's type name when the model raised (a Python identifier), else empty."""
    lines: tuple[str, ...]


def _exception_name(value: Any) -> str:
    name = _text(value, "exception")[:80]
    if not name or not set(name) <= _IDENTIFIER_CHARACTERS or name[0].isdigit():
        raise ProtocolViolation("exception is not the name of a type")
    return name


def parse_gradient_reply(
    reply: dict[str, Any], *, operation: str, batches: int
) -> GradientsDone | NoGradient | Malformed:
    """The reply to one ``attack`` or ``saliency`` request of ``batches`` batches.

    ``attacked`` must say with a real boolean whether every gradient was zero; ``explained``
    carries no flag (the parent reads the maps themselves). A ``no_gradient`` reply names one
    of the known reasons, and for ``raised`` the exception's type as an identifier.
    """
    done = {"attack": "attacked", "saliency": "explained"}[operation]
    op = _expect(reply, {done, "no_gradient", "malformed"})
    if op == "malformed":
        return _parse_malformed(reply, batches)
    if op == "no_gradient":
        reason = reply.get("reason")
        if reason not in NO_GRADIENT_REASONS:
            raise ProtocolViolation("no_gradient reply without a known reason")
        if reason == "nonfinite":
            return NoGradient(reason="nonfinite", exception="", lines=())
        error = parse_error({**reply, "kind": "raised"}, ERROR_KINDS_WHILE_PREDICTING)
        return NoGradient(reason="raised", exception=_exception_name(reply.get("exception")), lines=error.lines)
    zero = reply.get("zero_gradients", False) if operation == "attack" else False
    if not isinstance(zero, bool) or (operation == "attack" and "zero_gradients" not in reply):
        raise ProtocolViolation("zero_gradients is not a boolean")
    return GradientsDone(
        zero_gradients=zero,
        max_rss_bytes=_optional_integer(reply.get("max_rss_bytes"), "max_rss_bytes", high=MAX_MEMORY_BYTES),
    )
