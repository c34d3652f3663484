"""Static checks of pickles inside uploaded archives: which globals they would call.

A pickle is a program for the unpickler, and its GLOBAL opcodes name the functions and classes
it calls. torch's weights-only unpickler calls only an allow-list of them (tensor rebuild
functions, storages, dtypes, a few containers); a plain unpickler calls anything. These checks
read a pickle's opcodes with ``pickletools.genops`` -- which decodes opcodes and never calls or
imports anything -- and refuse a pickle that names any global outside ``ALLOWED_GLOBALS``, a
subset of torch's weights-only allow-list. The reading is capped in bytes and time.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickletools
from typing import IO

from .archive_zip import ParseBudget
from .errors import ModelFileError

MAX_PICKLE_BYTES = 4 * 1024**2

_DTYPES = (
    "bfloat16 bits16 bits1x8 bits2x4 bits4x2 bits8 bool complex128 complex32 complex64 float16 "
    "float32 float4_e2m1fn_x2 float64 float8_e4m3fn float8_e4m3fnuz float8_e5m2 float8_e5m2fnuz "
    "float8_e8m0fnu int1 int16 int2 int3 int32 int4 int5 int6 int64 int7 int8 qint32 qint8 "
    "quint2x4 quint4x2 quint8 uint1 uint16 uint2 uint3 uint32 uint4 uint5 uint6 uint64 uint7 "
    "uint8"
).split()
_STORAGES = (
    "BFloat16 Bool Byte Char ComplexDouble ComplexFloat Double Float Half Int Long QInt32 QInt8 "
    "QUInt2x4 QUInt4x2 QUInt8 Short"
).split()
_TENSORS = "BFloat16 Bool Byte Char Double Float Half Int Long Short".split()
_REBUILDS = (
    "_rebuild_tensor _rebuild_tensor_v2 _rebuild_tensor_v3 _rebuild_parameter "
    "_rebuild_parameter_with_state _rebuild_qtensor _rebuild_meta_tensor_no_storage "
    "_rebuild_device_tensor_from_cpu_tensor"
).split()

# What torch.save writes for tensors, parameters and plain containers of them. It leaves out
# parts of torch's own allow-list that a CPU model's archive never needs: CUDA and sparse
# classes, nested tensors, tensor subclasses (_rebuild_from_type_v2, _rebuild_wrapper_subclass)
# and numpy arrays.
ALLOWED_GLOBALS: frozenset[str] = frozenset(
    [
        "collections.OrderedDict",
        "collections.Counter",
        "builtins.set",
        "builtins.bytearray",
        "builtins.complex",
        "_codecs.encode",
        "torch.Size",
        "torch.Tensor",
        "torch.device",
        "torch.nn.parameter.Parameter",
        "torch.serialization._get_layout",
        "torch.storage.TypedStorage",
        "torch.storage.UntypedStorage",
        "torch.per_tensor_affine",
        "torch.per_tensor_symmetric",
        "torch.per_channel_affine",
        "torch.per_channel_symmetric",
        "torch.per_channel_affine_float_qparams",
    ]
    + [f"torch.{name}" for name in _DTYPES]
    + [f"torch.{name}Storage" for name in _STORAGES]
    + [f"torch.{name}Tensor" for name in _TENSORS]
    + [f"torch._utils.{name}" for name in _REBUILDS]
)

_STRING_PUSHES = frozenset(
    ["SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING"]
)
_MEMO_PUTS = frozenset(["PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"])
_MEMO_GETS = frozenset(["GET", "BINGET", "LONG_BINGET"])
_EXTENSIONS = frozenset(["EXT1", "EXT2", "EXT4"])
# Opcodes that leave the unpickler's stack as it is.
_NEUTRAL = frozenset(["PROTO", "FRAME"])


class _CappedReader:
    """A read-only stream that refuses to hand out more than ``limit`` bytes in total."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self._stream = stream
        self._left = limit
        self._position = 0

    def _take(self, data: bytes) -> bytes:
        self._left -= len(data)
        self._position += len(data)
        return data

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > self._left:
            raise _TooLarge()
        return self._take(self._stream.read(size))

    def readline(self) -> bytes:
        line = self._stream.readline(self._left + 1)
        if len(line) > self._left:
            raise _TooLarge()
        return self._take(line)

    def tell(self) -> int:
        return self._position


class _TooLarge(Exception):
    pass


def _python3_name(module: str, name: str) -> str:
    """The name Python 3's unpickler loads for a (possibly Python 2) module and name."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    return f"{module}.{name}"


def _name_of(opcode: str, argument: object, pushed: list[object]) -> str | None:
    """The ``module.name`` a global-loading opcode refers to, or None if it cannot be known."""
    if opcode in ("GLOBAL", "INST"):
        module, _, name = str(argument).partition(" ")
        return _python3_name(module, name)
    # STACK_GLOBAL takes module and name from the stack; they must be the two strings pushed
    # (directly or from the memo) right before it, as every pickler writes them.
    if len(pushed) >= 2 and isinstance(pushed[-2], str) and isinstance(pushed[-1], str):
        return _python3_name(pushed[-2], pushed[-1])
    return None


def pickle_globals(
    stream: IO[bytes], *, budget: ParseBudget, where: str, max_bytes: int = MAX_PICKLE_BYTES
) -> set[str]:
    """Return the ``module.name`` of every global the first pickle in ``stream`` loads.

    Raises ModelFileError, naming ``where``, when the pickle is longer than ``max_bytes``, is
    malformed or truncated, loads a global whose name is computed rather than written (or
    comes from the copyreg extension registry), or when ``budget`` runs out.
    """
    reader = _CappedReader(stream, max_bytes)
    found: set[str] = set()
    pushed: list[object] = []
    memo: dict[object, object] = {}
    try:
        # genops reads with read, readline and tell only; typeshed asks for a whole IO[bytes].
        opcodes = pickletools.genops(reader)  # type: ignore[arg-type]
        for index, (opcode, argument, _) in enumerate(opcodes):
            if index % 4096 == 0:
                budget.check()
            name = opcode.name
            if name in _STRING_PUSHES:
                pushed.append(argument if isinstance(argument, str) else None)
            elif name in _NEUTRAL:
                continue
            elif name in _MEMO_PUTS:
                key = len(memo) if name == "MEMOIZE" else argument
                memo[key] = pushed[-1] if pushed else None
            elif name in _MEMO_GETS:
                pushed.append(memo.get(argument))
            elif name in ("GLOBAL", "INST", "STACK_GLOBAL"):
                qualified = _name_of(name, argument, pushed)
                if qualified is None:
                    raise ModelFileError(
                        f"{where} is a pickle that computes the name of a class or function "
                        "it loads; such pickles are refused."
                    )
                found.add(qualified)
                pushed.append(None)
            elif name in _EXTENSIONS:
                raise ModelFileError(
                    f"{where} is a pickle that loads objects through the copyreg extension "
                    "registry; such pickles are refused."
                )
            elif name == "STOP":
                return found
            else:
                pushed.append(None)
            del pushed[:-2]
    except _TooLarge:
        raise ModelFileError(
            f"{where} is a pickle larger than the {max_bytes // 1024**2} MiB that are checked; "
            "pickles that large are refused."
        ) from None
    except (ValueError, EOFError, UnicodeDecodeError, io.UnsupportedOperation) as error:
        raise ModelFileError(f"{where} is a malformed pickle ({error}).") from None
    raise ModelFileError(f"{where} is a malformed pickle (it has no STOP opcode).")


def check_pickle(stream: IO[bytes], *, budget: ParseBudget, where: str, max_bytes: int = MAX_PICKLE_BYTES) -> None:
    """Refuse the first pickle in ``stream`` unless it loads only ``ALLOWED_GLOBALS``.

    The message names ``where`` and the first refused global, so a researcher sees which
    object made the archive unsafe to load.
    """
    found = pickle_globals(stream, budget=budget, where=where, max_bytes=max_bytes)
    refused = sorted(found - ALLOWED_GLOBALS)
    if refused:
        raise ModelFileError(
            f"{where} is a pickle that would call {refused[0]}"
            + (f" (and {len(refused) - 1} more)" if len(refused) > 1 else "")
            + "; only tensors, parameters and plain containers of them may be pickled in a "
            "model archive, because unpickling anything else runs code."
        )
