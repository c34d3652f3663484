"""The embedded Celery broker: kombu's filesystem transport, made safe for several processes.

kombu's filesystem transport writes each message file in place under its final name, so a
worker polling the folder can pick up a file that is still empty or half written, fail to
parse it and stop (``Unrecoverable error: JSONDecodeError``); a few concurrent uploads are
enough. This transport keeps kombu's folder layout and file names but:

- writes every message to a temporary name in the queue folder, flushes it to disk and then
  renames it into place, so a reader sees either no file or the whole message;
- claims a message by renaming it into the processed folder (on the same file system, so the
  rename is atomic and exactly one consumer wins), instead of kombu's copy into the system's
  temporary folder, which two consumers can both complete;
- moves a file that still cannot be read as a message into an ``error`` folder and logs it,
  so one bad file costs one message, never the worker;
- creates the exchange tables without truncating a file another process may be reading.

Settings select it with ``CELERY_BROKER_TRANSPORT`` when the broker URL is ``filesystem://``.
"""

from __future__ import annotations

import logging
import os
import uuid
from functools import cached_property
from pathlib import Path
from queue import Empty
from time import monotonic_ns
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem, virtual
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)

# A file being written carries this prefix and suffix; neither kombu's reader nor ours takes
# it for a message, because a message's name ends in ".<queue>.msg".
TEMPORARY_PREFIX = "."
TEMPORARY_SUFFIX = ".part"


def write_atomically(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` so that no reader ever sees part of it.

    The bytes go to a temporary file in the same folder, are flushed to disk, and the file is
    then renamed onto ``path``; a rename within one file system is atomic.
    """
    temporary = path.with_name(f"{TEMPORARY_PREFIX}{path.name}{TEMPORARY_SUFFIX}")
    try:
        with open(temporary, "xb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class Channel(filesystem.Channel):
    """A filesystem channel whose message files appear whole and are claimed by one reader."""

    # kombu names the message "payload" here and "message" in the channel base class; any name
    # satisfies one of them only.
    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:  # type: ignore[override]
        # kombu's name shape (a time, then a unique id, then the queue), with the time in
        # zero-padded nanoseconds instead of milliseconds: a sorted listing is then oldest first
        # even for messages written within the same millisecond.
        name = f"{monotonic_ns():020d}_{uuid.uuid4()}.{queue}.msg"
        path = Path(self.data_folder_out) / name
        try:
            write_atomically(path, str_to_bytes(dumps(payload)))
        except OSError as error:
            raise ChannelError(f"cannot write the message file {path}: {error}") from error

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        wanted = f"{queue}.msg"
        inbox = Path(self.data_folder_in)
        claimed_folder = self.claim_folder
        for name in sorted(os.listdir(inbox)):
            if name.partition(".")[2] != wanted:
                continue
            claimed = claimed_folder / name
            try:
                os.rename(inbox / name, claimed)
            except FileNotFoundError:
                continue  # another consumer claimed it first
            except OSError as error:
                raise ChannelError(
                    f"cannot move the message file {name} from {inbox} to {claimed_folder}: {error}; "
                    "both folders must exist on the same file system"
                ) from error
            try:
                payload = loads(bytes_to_str(claimed.read_bytes()))
                # Build the message once here: a payload that kombu cannot turn into a
                # message would otherwise raise inside the worker's consumer loop and stop it.
                self.Message(payload, channel=self)
            except Exception as error:
                self._set_aside(claimed, error)
                continue
            if not self.store_processed:
                claimed.unlink(missing_ok=True)
            return payload
        raise Empty()

    def _set_aside(self, claimed: Path, error: Exception) -> None:
        destination = self.error_folder / claimed.name
        try:
            self.error_folder.mkdir(parents=True, exist_ok=True)
            os.replace(claimed, destination)
        except OSError:
            logger.exception("could not move the unreadable message file %s into %s", claimed, self.error_folder)
            destination = claimed
        logger.error(
            "skipped the message file %s because it is not a complete message (%s: %s); it is kept at %s. "
            "Its task did not run: a submission it named stays queued until the periodic sweep queues it again.",
            claimed.name,
            type(error).__name__,
            error,
            destination,
        )

    @cached_property
    def claim_folder(self) -> Path:
        # It must exist: a rename into a missing folder also fails with "not found", which
        # would read as "another consumer took it" and skip every message.
        folder = Path(self.processed_folder)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @property
    def error_folder(self) -> Path:
        configured = self.transport_options.get("error_folder")
        if configured:
            return Path(configured)
        return Path(self.data_folder_in).resolve().parent / "error"

    def get_table(self, exchange: str) -> list[filesystem.exchange_queue_t]:
        file = self._exchange_file(exchange)
        try:
            with file.open("rb") as handle:
                filesystem.lock(handle, filesystem.LOCK_SH)
                try:
                    content = handle.read()
                finally:
                    filesystem.unlock(handle)
        except FileNotFoundError:
            return []
        except OSError as error:
            raise ChannelError(f"cannot read the exchange table {file}: {error}") from error
        # An empty file is a table that its creator has opened but not yet written.
        return [filesystem.exchange_queue_t(*row) for row in loads(bytes_to_str(content))] if content else []

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        file = self._exchange_file(exchange)
        self.control_folder.mkdir(exist_ok=True)
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        try:
            # kombu opens a new table with "wb", which empties a file another process may have
            # just created and filled; opening without truncation and locking first cannot.
            descriptor = os.open(file, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise ChannelError(f"cannot open the exchange table {file}: {error}") from error
        with os.fdopen(descriptor, "rb+", buffering=0) as handle:
            filesystem.lock(handle, filesystem.LOCK_EX)
            try:
                content = handle.read()
                table = [filesystem.exchange_queue_t(*row) for row in loads(bytes_to_str(content))] if content else []
                if binding not in table:
                    table.insert(0, binding)
                    handle.seek(0)
                    handle.write(str_to_bytes(dumps(table)))
                    handle.truncate()
            finally:
                filesystem.unlock(handle)


class Transport(filesystem.Transport):
    """The filesystem transport with atomic message files (see the module's docstring)."""

    Channel = Channel
    # kombu remembers declared exchanges and queues in memory, once per transport class; this
    # keeps that memory per control folder, so that a process talking to two folders (a test,
    # the perf script) does not skip declaring a queue in the second one.
    _states: dict[str, virtual.BrokerState] = {}

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        folder = os.path.abspath(str(client.transport_options.get("control_folder", "control")))
        self.state = self._states.setdefault(folder, virtual.BrokerState())
