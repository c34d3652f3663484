"""Limits, rlimits and the mapping from a failed child to a researcher's error message."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.errors import (
    DeadlineExceededError,
    ModelLoadError,
    ModelRaisedError,
    OutOfMemoryError,
    SandboxViolationError,
)
from evaluation.sandbox import SandboxLimits
from evaluation.sandbox.channel import ProtocolViolation
from evaluation.sandbox.diagnosis import ExitInfo, error_from_exit, error_from_reply, wall_deadline
from evaluation.sandbox.limits import rlimits_for
from evaluation.sandbox.replies import (
    ERROR_KINDS_WHILE_LOADING,
    ERROR_KINDS_WHILE_PREDICTING,
    ErrorReply,
    parse_error,
)

ROOT = Path(__file__).resolve().parents[2]
LIMITS = SandboxLimits(memory_bytes=1536 * 1024**2, cpu_seconds=7, file_size_bytes=64 * 1024**2)


def _error_reply(kind: str, lines) -> ErrorReply:
    kinds = ERROR_KINDS_WHILE_LOADING if kind == "load" else ERROR_KINDS_WHILE_PREDICTING
    return parse_error({"op": "error", "kind": kind, "traceback": lines}, kinds)


def _exit(**overrides) -> ExitInfo:
    values = {
        "phase": "predicting",
        "signal_number": None,
        "exit_status": 1,
        "oom_killed": False,
        "peak_memory_bytes": None,
        "stderr_tail": (),
    }
    values.update(overrides)
    return ExitInfo(**values)


@pytest.mark.parametrize(
    "field", ["memory_bytes", "cpu_seconds", "file_size_bytes", "open_files", "pids", "wall_seconds"]
)
def test_it_rejects_limits_that_are_not_positive(field):
    with pytest.raises(ValueError, match=field):
        SandboxLimits(**{field: 0})


def test_torch_starts_under_a_small_memory_cap_and_a_reservation_past_the_address_space_cap_fails():
    # RLIMIT_AS counts mappings torch never touches; without the headroom above the memory cap
    # a 256 MiB model could not even import torch. Past the address-space cap, nothing maps.
    small = SandboxLimits(memory_bytes=256 * 1024**2)
    code = (
        "import mmap, sys\n"
        "from evaluation.sandbox.limits import apply_rlimits, rlimits_for\n"
        "from evaluation.sandbox import SandboxLimits\n"
        f"apply_rlimits(rlimits_for(SandboxLimits(memory_bytes={small.memory_bytes})))\n"
        "import torch\n"
        "print(float((torch.ones(64, 64) @ torch.ones(64, 64))[0, 0]))\n"
        "try:\n"
        f"    mmap.mmap(-1, {small.address_space_bytes})\n"
        "    print('mapped')\n"
        "except OSError:\n"
        "    print('refused')\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT, timeout=120
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.split() == ["64.0", "refused"]
    assert small.memory_mib == 256


def test_rlimits_cover_address_space_cpu_file_size_open_files_and_core_dumps():
    rlimits = rlimits_for(LIMITS)

    assert rlimits[resource.RLIMIT_AS] == (LIMITS.address_space_bytes,) * 2
    soft, hard = rlimits[resource.RLIMIT_CPU]
    assert soft == 7 and hard > soft  # SIGXCPU first, SIGKILL a little later
    assert rlimits[resource.RLIMIT_FSIZE] == (64 * 1024**2,) * 2
    assert rlimits[resource.RLIMIT_NOFILE] == (256, 256)
    assert rlimits[resource.RLIMIT_CORE] == (0, 0)


def test_rlimits_are_applied_in_the_child_process():
    code = (
        "import resource, sys\n"
        "from evaluation.sandbox.limits import apply_rlimits, rlimits_for\n"
        "from evaluation.sandbox import SandboxLimits\n"
        "apply_rlimits(rlimits_for(SandboxLimits(file_size_bytes=4096)))\n"
        "print(resource.getrlimit(resource.RLIMIT_FSIZE)[0], "
        "resource.getrlimit(resource.RLIMIT_CORE)[0])\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert completed.stdout.split() == ["4096", "0"]


def test_an_oom_kill_becomes_out_of_memory_naming_the_cap():
    error = error_from_exit(_exit(signal_number=signal.SIGKILL, oom_killed=True), LIMITS)

    assert isinstance(error, OutOfMemoryError)
    assert "1536 MiB" in str(error)


def test_a_sigkill_at_the_cap_is_out_of_memory_even_without_an_oom_counter():
    info = _exit(signal_number=signal.SIGKILL, peak_memory_bytes=LIMITS.memory_bytes)
    assert isinstance(error_from_exit(info, LIMITS), OutOfMemoryError)


def test_a_sigkill_far_below_the_cap_is_not_blamed_on_memory():
    info = _exit(signal_number=signal.SIGKILL, peak_memory_bytes=100 * 1024**2)
    error = error_from_exit(info, LIMITS)

    assert isinstance(error, ModelRaisedError)
    assert "SIGKILL" in str(error)


def test_sigxcpu_becomes_deadline_exceeded_naming_the_cpu_seconds():
    error = error_from_exit(_exit(signal_number=signal.SIGXCPU), LIMITS)

    assert isinstance(error, DeadlineExceededError)
    assert "7 CPU seconds" in str(error)


def test_sigxfsz_becomes_a_violation_naming_the_file_size_cap():
    error = error_from_exit(_exit(signal_number=signal.SIGXFSZ), LIMITS)

    assert isinstance(error, SandboxViolationError)
    assert "64 MiB" in str(error)


def test_sigsys_becomes_a_violation():
    assert isinstance(error_from_exit(_exit(signal_number=signal.SIGSYS), LIMITS), SandboxViolationError)


def test_an_allocation_failure_in_stderr_becomes_out_of_memory():
    info = _exit(stderr_tail=("terminate called after throwing an instance of 'std::bad_alloc'",))
    assert isinstance(error_from_exit(info, LIMITS), OutOfMemoryError)


def test_a_crash_while_loading_is_a_load_error_with_the_last_lines_of_stderr():
    info = _exit(phase="loading", exit_status=3, stderr_tail=("first", "last words"))
    error = error_from_exit(info, LIMITS)

    assert isinstance(error, ModelLoadError)
    assert "exited with status 3 while loading" in str(error)
    assert "last words" in str(error)


def test_a_bubblewrap_line_written_after_the_model_was_opened_is_the_models_failure():
    # Once the model is open, stderr is the model's to write: a line that looks like
    # bubblewrap's must not turn its crash into the site's fault (which costs no quota).
    info = _exit(phase="loading", exit_status=1, stderr_tail=("bwrap: Creating new namespace failed",))
    error = error_from_exit(info, LIMITS)

    assert isinstance(error, ModelLoadError)
    assert not error.infrastructure


def test_a_raised_reply_keeps_the_last_ten_lines_of_the_traceback():
    lines = [f"line {index}" for index in range(30)] + ["RuntimeError: shapes do not match"]
    error = error_from_reply(_error_reply("raised", lines), LIMITS)

    assert isinstance(error, ModelRaisedError)
    assert "RuntimeError: shapes do not match" in str(error)
    assert "line 21" in str(error) and "line 20" not in str(error)


def test_a_refused_allocation_in_the_traceback_is_out_of_memory():
    lines = [
        "RuntimeError: DefaultCPUAllocator: can't allocate memory: you tried to allocate "
        "8589934592 bytes. Error code 12 (Cannot allocate memory)"
    ]
    error = error_from_reply(_error_reply("raised", lines), LIMITS)

    assert isinstance(error, OutOfMemoryError)
    assert "1536 MiB" in str(error)


def test_a_load_failure_reply_explains_how_to_save_a_model():
    error = error_from_reply(_error_reply("load", ["bad archive"]), LIMITS)

    assert isinstance(error, ModelLoadError)
    assert "torch.jit.save" in str(error) and "bad archive" in str(error)


def test_a_reply_with_a_malformed_traceback_breaks_the_protocol():
    with pytest.raises(ProtocolViolation):
        _error_reply("raised", "not a list")


def test_the_wall_deadline_message_names_the_deadline_and_the_phase():
    error = wall_deadline(SandboxLimits(wall_seconds=12.5), "predicting", 12.51)

    assert isinstance(error, DeadlineExceededError)
    assert "12.5 seconds" in str(error) and "while predicting" in str(error)
