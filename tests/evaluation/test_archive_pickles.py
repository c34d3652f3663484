"""The static pickle check: what torch.save writes passes, anything that would call more fails."""

from __future__ import annotations

import _compat_pickle
import collections
import io
import os
import pickle
import pickletools
import re
import zipfile
from pathlib import Path

import pytest
import torch
from torch._weights_only_unpickler import _get_allowed_globals

from evaluation.archive_pickles import ALLOWED_GLOBALS, check_pickle, pickle_globals
from evaluation.archive_zip import ParseBudget
from evaluation.errors import ModelFileError


def _budget() -> ParseBudget:
    return ParseBudget(60)


def _data_pkl(obj: object) -> bytes:
    """The data.pkl that torch.save writes for ``obj``."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        return archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))


def _check(data: bytes, **kwargs) -> None:
    check_pickle(io.BytesIO(data), budget=_budget(), where="The member 'x'", **kwargs)


class _Calls:
    def __init__(self, function, *arguments) -> None:
        self.function = function
        self.arguments = arguments

    def __reduce__(self):
        return (self.function, self.arguments)


def test_the_allow_list_is_part_of_torchs_weights_only_allow_list():
    assert ALLOWED_GLOBALS <= set(_get_allowed_globals())
    # No allowed name is one that Python 2 compatibility would load as something else.
    for qualified in ALLOWED_GLOBALS:
        module, _, name = qualified.rpartition(".")
        assert (module, name) not in _compat_pickle.NAME_MAPPING
        assert module not in _compat_pickle.IMPORT_MAPPING


@pytest.mark.parametrize(
    "obj",
    [
        ((torch.zeros(2, 1, 8, 8),), {}),
        torch.nn.Parameter(torch.ones(3)),
        torch.nn.Conv2d(1, 4, 3).state_dict(),
        {"a": torch.arange(5), "b": [torch.zeros(2, dtype=torch.float16), torch.Size([2, 3])]},
        collections.OrderedDict(x=torch.tensor([True, False]), y=torch.device("cpu")),
    ],
)
def test_it_accepts_what_torch_save_writes_for_tensors_and_containers(obj):
    data = _data_pkl(obj)

    _check(data)

    assert pickle_globals(io.BytesIO(data), budget=_budget(), where="x") <= ALLOWED_GLOBALS


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_it_names_the_global_a_payload_would_call_in_every_protocol(tmp_path: Path, protocol):
    canary = tmp_path / "ran"
    data = pickle.dumps(_Calls(os.system, f"touch {canary}"), protocol=protocol)

    with pytest.raises(ModelFileError) as caught:
        _check(data)

    assert "The member 'x' is a pickle that would call posix.system" in str(caught.value)
    assert not canary.exists()


def test_it_refuses_a_torch_save_of_a_payload():
    with pytest.raises(ModelFileError, match=re.escape("would call builtins.eval")):
        _check(_data_pkl(_Calls(eval, "1 + 1")))


def test_it_refuses_the_instance_opcode_of_protocol_zero():
    # INST names the class inline and calls it with the marked arguments.
    data = b"(S'echo hi'\nios\nsystem\n."

    with pytest.raises(ModelFileError, match=re.escape("would call os.system")):
        _check(data)


def test_it_follows_memoized_strings_into_stack_global():
    # SHORT_BINUNICODE 'os', MEMOIZE, then later BINGET of it: the module comes from the memo.
    data = b"\x80\x04\x8c\x02os\x94\x8c\x05torch\x94\x30\x68\x00\x8c\x06system\x94\x93\x8c\x02hi\x85R."
    opcodes = [opcode.name for opcode, _, _ in pickletools.genops(io.BytesIO(data))]
    assert opcodes[5:10] == ["POP", "BINGET", "SHORT_BINUNICODE", "MEMOIZE", "STACK_GLOBAL"]

    with pytest.raises(ModelFileError, match=re.escape("would call os.system")):
        _check(data)


def test_it_refuses_a_global_whose_name_is_computed():
    # The module name comes out of a call, not a string the pickle writes down.
    data = b"\x80\x04\x8c\x08builtins\x8c\x03str\x93\x8c\x02os\x85R\x8c\x06system\x93."

    with pytest.raises(ModelFileError, match="computes the name"):
        _check(data)


def test_it_refuses_the_copyreg_extension_registry():
    with pytest.raises(ModelFileError, match="extension registry"):
        _check(b"\x80\x02\x82\x01.")


@pytest.mark.parametrize("data", [b"", b"\x80\x02", b"\x80\x02\xff.", b"\x80\x02X\x05\x00\x00\x00ab"])
def test_it_refuses_malformed_or_truncated_pickles(data):
    with pytest.raises(ModelFileError, match="malformed pickle"):
        _check(data)


def test_it_reads_no_more_than_its_cap():
    data = pickle.dumps(["x" * 5000], protocol=2)

    with pytest.raises(ModelFileError, match="larger than"):
        _check(data, max_bytes=4096)
    _check(data, max_bytes=8192)
    # A string that declares 2 GiB is refused before anything tries to read it.
    with pytest.raises(ModelFileError, match="larger than"):
        _check(b"\x80\x02X\xff\xff\xff\x7f")


def test_it_stops_when_the_budget_is_spent():
    with pytest.raises(ModelFileError, match="longer than the 0 s allowed"):
        check_pickle(io.BytesIO(_data_pkl(torch.zeros(2))), budget=ParseBudget(0), where="x")
