"""The parent's side of the IO: validating child-written logits and bounded log capture."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from evaluation.errors import MalformedOutputError
from evaluation.sandbox.channel import Channel, ChannelClosed, ChannelTimeout, ProtocolViolation
from evaluation.sandbox.outputs import malformed_from_reply, read_logits
from evaluation.sandbox.replies import Malformed


def test_it_reads_valid_logits(tmp_path: Path):
    expected = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "out.npy", expected)

    logits = read_logits(tmp_path / "out.npy", items=4, n_classes=3)

    np.testing.assert_array_equal(logits, expected)
    assert logits.dtype == np.float32


@pytest.mark.parametrize(
    ("array", "words"),
    [
        (np.zeros((4, 3), dtype=np.float64), ("float64", "expected float32 logits of shape [4, 3]")),
        (np.zeros((4, 3), dtype=np.int64), ("int64",)),
        (np.zeros((4, 5), dtype=np.float32), ("shape [4, 5]", "[4, 3]")),
        (np.zeros((4, 3), dtype=np.float32, order="F"), ("Fortran order",)),
        (np.array([[0, np.nan, 0]] * 4, dtype=np.float32), ("NaN in 4 rows", "first at input 0")),
        (np.array([[0, 0, 0]] * 3 + [[np.inf, 0, 0]], dtype=np.float32), ("Inf in 1 rows", "first at input 3")),
    ],
)
def test_it_rejects_logits_of_the_wrong_kind_saying_what_came_back(tmp_path: Path, array, words):
    np.save(tmp_path / "out.npy", array)

    with pytest.raises(MalformedOutputError) as caught:
        read_logits(tmp_path / "out.npy", items=4, n_classes=3)

    for word in words:
        assert word in str(caught.value)


def test_it_checks_the_byte_size_before_reading(tmp_path: Path):
    path = tmp_path / "out.npy"
    np.save(path, np.zeros((4, 3), dtype=np.float32))
    with open(path, "ab") as handle:
        handle.write(b"\0" * 1024**2)  # extra data after the declared array

    with pytest.raises(MalformedOutputError, match="bytes"):
        read_logits(path, items=4, n_classes=3)
    with open(path, "r+b") as handle:
        handle.truncate(100)  # a header and a few values only
    with pytest.raises(MalformedOutputError, match="bytes"):
        read_logits(path, items=4, n_classes=3)


def test_it_refuses_output_that_is_not_npy(tmp_path: Path):
    path = tmp_path / "out.npy"
    path.write_bytes(b"\x80\x04definitely a pickle")

    with pytest.raises(MalformedOutputError, match="could not be read"):
        read_logits(path, items=4, n_classes=3)


def test_a_malformed_reply_says_what_the_model_returned_and_what_was_expected():
    reply = Malformed(problem="dtype", batch_index=2, returned="a float64 tensor of shape [256, 10]")

    error = malformed_from_reply(reply, 10, batch_size=256, chunk_items=1000)

    assert "a float64 tensor of shape [256, 10]" in str(error)
    assert "expected float32 logits of shape [256, 10]" in str(error)
    assert "batch 2" in str(error) and ".float()" in str(error)


def _channel_for(process_code: str, limit: int = 4096):
    request_read, request_write = os.pipe()
    reply_read, reply_write = os.pipe()
    stdout_read, stdout_write = os.pipe()
    stderr_read, stderr_write = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-c", process_code, str(reply_write)],
        stdout=stdout_write,
        stderr=stderr_write,
        pass_fds=[reply_write],
    )
    for fd in (request_read, reply_write, stdout_write, stderr_write):
        os.close(fd)
    channel = Channel(
        request_fd=request_write, reply_fd=reply_read, stdout_fd=stdout_read, stderr_fd=stderr_read, log_limit=limit
    )
    return process, channel


FLOOD = """
import os, sys
chunk = b"x" * 65536 + b"\\n"
for _ in range(300):
    os.write(1, chunk)
    os.write(2, chunk)
os.write(2, b"the last line\\n")
os.write(int(sys.argv[1]), b'{"op": "done"}\\n')
"""


def test_the_channel_drains_a_flood_on_stdout_and_stderr_keeping_only_the_tails():
    process, channel = _channel_for(FLOOD)
    try:
        message = channel.receive(time.monotonic() + 60)
        channel.drain(timeout=5)
    finally:
        process.wait()
        channel.close()

    assert message == {"op": "done"}
    assert channel.stdout.total_bytes > 18 * 1024**2
    assert channel.stderr.total_bytes > 18 * 1024**2
    assert len(channel.stderr.text()) <= 4096
    assert channel.stderr.last_lines(1) == ["the last line"]


def test_the_channel_times_out_and_reports_a_closed_pipe():
    process, channel = _channel_for("import time; time.sleep(0.5)")
    try:
        with pytest.raises(ChannelTimeout):
            channel.receive(time.monotonic() + 0.1)
        with pytest.raises(ChannelClosed):
            channel.receive(time.monotonic() + 30)
    finally:
        process.wait()
        channel.close()


@pytest.mark.parametrize(
    "payload",
    ["b'not json\\n'", "b'[1, 2]\\n'", 'b\'{"no": "op"}\\n\'', "b'{' * (2 * 1024 * 1024)"],
)
def test_the_channel_refuses_messages_that_break_the_protocol(payload: str):
    code = f"import os, sys; os.write(int(sys.argv[1]), {payload})"
    process, channel = _channel_for(code)
    try:
        with pytest.raises(ProtocolViolation):
            channel.receive(time.monotonic() + 30)
    finally:
        process.kill()
        process.wait()
        channel.close()
