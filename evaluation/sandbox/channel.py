"""The parent's side of the child protocol: JSON-line messages and bounded log capture.

Everything read here comes from an untrusted process, so every read is bounded: a message
line may not exceed ``MAX_MESSAGE_BYTES``, and stdout/stderr are drained continuously into
fixed-size tails, so a model that floods its output costs the parent only the reading.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import time
from typing import Any

MAX_MESSAGE_BYTES = 1024 * 1024
_READ_CHUNK = 64 * 1024


class ChannelClosed(Exception):
    """The child closed its end of the control pipe (it exited or was killed)."""


class ChannelTimeout(Exception):
    """The deadline passed before the child answered."""


class ProtocolViolation(Exception):
    """The child sent something that is not a well-formed protocol message."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class LogTail:
    """Keeps the last ``limit`` bytes of a stream and counts everything seen."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total_bytes = 0
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        """Append ``data``, dropping the oldest bytes beyond the limit."""
        self.total_bytes += len(data)
        self._buffer += data
        overflow = len(self._buffer) - self.limit
        if overflow > 0:
            del self._buffer[:overflow]

    def text(self) -> str:
        """The kept bytes decoded as UTF-8 (undecodable bytes replaced)."""
        return self._buffer.decode("utf-8", errors="replace")

    def last_lines(self, count: int) -> list[str]:
        """The last ``count`` non-empty lines, each cut to 500 characters."""
        lines = [line.rstrip()[:500] for line in self.text().splitlines() if line.strip()]
        return lines[-count:]


class Channel:
    """Reads the child's control messages while draining its stdout and stderr."""

    def __init__(self, *, request_fd: int, reply_fd: int, stdout_fd: int, stderr_fd: int, log_limit: int) -> None:
        self._request_fd = request_fd
        self._reply_fd = reply_fd
        self._pending = bytearray()
        self.stdout = LogTail(log_limit)
        self.stderr = LogTail(log_limit)
        self._selector = selectors.DefaultSelector()
        self._streams = {reply_fd: None, stdout_fd: self.stdout, stderr_fd: self.stderr}
        for fd in self._streams:
            os.set_blocking(fd, False)
            self._selector.register(fd, selectors.EVENT_READ)
        self._reply_open = True

    def send(self, message: dict[str, Any]) -> None:
        """Write one request line; raises ChannelClosed if the child is gone."""
        data = json.dumps(message).encode() + b"\n"
        try:
            # Requests are a few hundred bytes, far below the pipe buffer: this never blocks.
            os.write(self._request_fd, data)
        except (BrokenPipeError, OSError) as error:
            raise ChannelClosed() from error

    def receive(self, deadline: float) -> dict[str, Any]:
        """Wait for the next message until ``deadline`` (a ``time.monotonic()`` value)."""
        while True:
            message = self._pop_message()
            if message is not None:
                return message
            if not self._reply_open:
                raise ChannelClosed()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelTimeout()
            self._pump(min(remaining, 1.0))

    def drain(self, timeout: float) -> None:
        """Read whatever output is left (after the child exited), for at most ``timeout``."""
        end = time.monotonic() + timeout
        while self._selector.get_map() and time.monotonic() < end:
            self._pump(max(0.0, end - time.monotonic()))

    def _pop_message(self) -> dict[str, Any] | None:
        newline = self._pending.find(b"\n")
        if newline < 0:
            if len(self._pending) > MAX_MESSAGE_BYTES:
                raise ProtocolViolation("control message too long")
            return None
        line = bytes(self._pending[:newline])
        del self._pending[: newline + 1]
        try:
            # NaN and Infinity are not JSON; Python accepts them unless told not to, and a NaN
            # kept from the child would later fail to store (PostgreSQL's jsonb refuses it).
            message = json.loads(line, parse_constant=_refuse_constant)
        except ValueError as error:
            raise ProtocolViolation("control message is not JSON") from error
        if not isinstance(message, dict) or not isinstance(message.get("op"), str):
            raise ProtocolViolation("control message has no operation")
        return message

    def _pump(self, timeout: float) -> None:
        for key, _ in self._selector.select(timeout):
            fd = key.fd
            try:
                data = os.read(fd, _READ_CHUNK)
            except BlockingIOError:
                continue
            if not data:
                self._selector.unregister(fd)
                if fd == self._reply_fd:
                    self._reply_open = False
                continue
            tail = self._streams[fd]
            if tail is None:
                self._pending += data
                if len(self._pending) > MAX_MESSAGE_BYTES + _READ_CHUNK:
                    raise ProtocolViolation("control message too long")
            else:
                tail.feed(data)

    def close(self) -> None:
        """Close every fd the channel owns."""
        with contextlib.suppress(Exception):
            self._selector.close()
        for fd in (self._request_fd, *self._streams):
            with contextlib.suppress(OSError):
                os.close(fd)
