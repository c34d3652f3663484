"""Reading and validating the logits a child wrote.

The output file was written by untrusted code, so the parent checks the ``.npy`` header
(dtype, order, shape) and the file's byte size before reading a single value, and then checks
that every value is finite. ``allow_pickle`` is never on.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import MalformedOutputError
from .replies import Malformed

_FLOAT32 = np.dtype("<f4")
_MAX_HEADER_BYTES = 4096

_EXPECTATION = (
    "The model must map a float32 tensor [batch, *input_shape] to float32 logits "
    "[batch, n_classes] (one row per input, one column per class)."
)


def _expected(batch_items: int, n_classes: int) -> str:
    return f"float32 logits of shape [{batch_items}, {n_classes}]"


def malformed_from_reply(reply: Malformed, n_classes: int, batch_size: int, chunk_items: int) -> MalformedOutputError:
    """Build the error for a child's checked ``malformed`` reply (the description is the child's).

    The batch's size comes from the parent's own arithmetic, not from the reply.
    """
    batch_items = max(0, min(batch_size, chunk_items - reply.batch_index * batch_size))
    message = (
        f"The model returned {reply.returned or 'an unexpected value'} for batch "
        f"{reply.batch_index} ({batch_items} inputs); expected {_expected(batch_items, n_classes)}."
    )
    if reply.problem == "dtype":
        message += " Convert the logits to float32 in forward(), e.g. `return logits.float()`."
    elif reply.problem == "type":
        message += " Return a single tensor, not a tuple, list or dict."
    return MalformedOutputError(f"{message} {_EXPECTATION}")


def read_logits(path: Path, *, items: int, n_classes: int) -> np.ndarray:
    """Load float32 logits ``[items, n_classes]`` from a child-written ``.npy``, validated.

    Raises MalformedOutputError when the header, the size or any value is not as expected.
    """
    logits = read_rows(path, items=items, columns=n_classes, expected=_expected(items, n_classes), hint=_EXPECTATION)
    check_finite(logits)
    return logits


def read_rows(path: Path, *, items: int, columns: int, expected: str, hint: str) -> np.ndarray:
    """Load a child-written float32 ``.npy`` of shape ``[items, columns]``; values unchecked.

    The header (dtype, order, shape) and the exact byte size are checked before any value is
    read; ``expected`` describes the wanted array and ``hint`` follows it in messages. Raises
    MalformedOutputError.
    """
    try:
        size = os.stat(path).st_size
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                header = np.lib.format.read_array_header_1_0(handle, max_header_size=_MAX_HEADER_BYTES)
            elif version == (2, 0):
                header = np.lib.format.read_array_header_2_0(handle, max_header_size=_MAX_HEADER_BYTES)
            else:
                raise ValueError(f"unsupported .npy version {version}")
            shape, fortran_order, dtype = header
            data_offset = handle.tell()
            if dtype != _FLOAT32:
                raise MalformedOutputError(f"The model's output file holds {dtype} values; expected {expected}. {hint}")
            if fortran_order:
                raise MalformedOutputError(
                    f"The model's output file is in Fortran order; expected {expected} in C order."
                )
            if tuple(shape) != (items, columns):
                raise MalformedOutputError(f"The model's output has shape {list(shape)}; expected {expected}. {hint}")
            expected_size = data_offset + items * columns * _FLOAT32.itemsize
            if size != expected_size:
                raise MalformedOutputError(
                    f"The model's output file is {size} bytes; {expected} take "
                    f"{expected_size} bytes. The model stopped writing early or wrote extra "
                    "data."
                )
            values = np.fromfile(handle, dtype=_FLOAT32, count=items * columns)
    except MalformedOutputError:
        raise
    except (OSError, ValueError, SyntaxError) as error:
        raise MalformedOutputError(f"The model's output file could not be read as {expected} ({error}).") from error
    return values.reshape(items, columns).astype(np.float32, copy=False)


def check_finite(logits: np.ndarray) -> None:
    """Raise MalformedOutputError if any logit is NaN or infinite, saying where."""
    finite = np.isfinite(logits)
    if finite.all():
        return
    bad_rows = np.flatnonzero(~finite.all(axis=1))
    nan_rows = int(np.isnan(logits).any(axis=1).sum())
    inf_rows = int(np.isinf(logits).any(axis=1).sum())
    raise MalformedOutputError(
        f"The model returned non-finite logits for {len(bad_rows)} of {len(logits)} inputs "
        f"(NaN in {nan_rows} rows, Inf in {inf_rows} rows; first at input {int(bad_rows[0])}). "
        "Every logit must be a finite float32 number; check for divisions by zero, log(0) "
        "or overflow in forward()."
    )
