"""The embedded broker: whole messages under concurrent writers, and a bad file costs one message."""

from __future__ import annotations

import logging
import multiprocessing
import os
from pathlib import Path

import pytest
from kombu import Connection

from touchstone.broker import Transport

N_PER_WRITER = 150


def transport_options(folder: Path) -> dict:
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "error_folder": str(folder / "error"),
        "polling_interval": 0.01,
    }


@pytest.fixture
def broker_folder(tmp_path) -> Path:
    for name in ("queue", "processed", "control"):
        (tmp_path / name).mkdir()
    return tmp_path


def connect(folder: Path) -> Connection:
    return Connection("filesystem://", transport=Transport, transport_options=transport_options(folder))


def publish(folder: str, writer: int, count: int, size: int) -> None:
    with connect(Path(folder)) as connection:
        queue = connection.SimpleQueue("jobs")
        for number in range(count):
            queue.put({"writer": writer, "number": number, "padding": "x" * size})


def drain(folder: Path, expected: int, timeout: float = 60.0) -> list[dict]:
    received = []
    with connect(folder) as connection:
        queue = connection.SimpleQueue("jobs")
        while len(received) < expected:
            message = queue.get(timeout=timeout)
            received.append(message.payload)
            message.ack()
    return received


@pytest.mark.parametrize("size", [10, 300_000], ids=["small", "large"])
def test_a_reader_never_sees_part_of_a_message_from_concurrent_writers(broker_folder, size):
    # kombu's own transport fails this within a few messages: the reader takes a file its
    # writer has created but not yet filled.
    context = multiprocessing.get_context("spawn")
    writers = [
        context.Process(target=publish, args=(str(broker_folder), writer, N_PER_WRITER, size)) for writer in range(3)
    ]
    for writer in writers:
        writer.start()
    try:
        received = drain(broker_folder, 3 * N_PER_WRITER)
    finally:
        for writer in writers:
            writer.join(timeout=60)
    assert all(writer.exitcode == 0 for writer in writers)
    assert sorted((m["writer"], m["number"]) for m in received) == [
        (writer, number) for writer in range(3) for number in range(N_PER_WRITER)
    ]
    assert all(len(m["padding"]) == size for m in received)
    assert not (broker_folder / "error").exists() or not os.listdir(broker_folder / "error")
    assert os.listdir(broker_folder / "queue") == []


def test_one_writers_messages_arrive_in_the_order_written(broker_folder):
    publish(str(broker_folder), 0, 200, 10)
    assert [m["number"] for m in drain(broker_folder, 200)] == list(range(200))


@pytest.mark.parametrize(
    "content",
    [b"", b'{"body": "eyJ', b"[1, 2]", b'{"body": "", "properties": {}}'],
    ids=["empty", "truncated", "not-a-message", "no-delivery-tag"],
)
def test_an_unreadable_message_file_is_set_aside_and_the_next_message_arrives(broker_folder, content, caplog):
    # The bad file sorts first, the way a half-written file from an older writer would.
    bad = broker_folder / "queue" / f"{0:020d}_00000000-0000-0000-0000-000000000000.jobs.msg"
    bad.write_bytes(content)
    publish(str(broker_folder), 0, 1, 10)
    with caplog.at_level(logging.ERROR, logger="touchstone.broker"):
        received = drain(broker_folder, 1, timeout=10)
    assert received[0]["number"] == 0
    assert (broker_folder / "error" / bad.name).read_bytes() == content
    assert not bad.exists()
    assert bad.name in caplog.text and "not a complete message" in caplog.text


def test_a_file_still_being_written_is_not_taken_for_a_message(broker_folder):
    partial = broker_folder / "queue" / f".{0:020d}_00000000-0000-0000-0000-000000000000.jobs.msg.part"
    partial.write_bytes(b'{"body": ')
    with connect(broker_folder) as connection:
        queue = connection.SimpleQueue("jobs")
        with pytest.raises(queue.Empty):
            queue.get(timeout=0.3)
        assert queue.qsize() == 0
    assert partial.exists()


def test_two_readers_never_both_take_one_message(broker_folder):
    publish(str(broker_folder), 0, 200, 10)
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        halves = pool.starmap(drain_until_empty, [(str(broker_folder),)] * 2)
    numbers = sorted(number for half in halves for number in half)
    assert numbers == list(range(200))


def drain_until_empty(folder: str) -> list[int]:
    numbers = []
    with connect(Path(folder)) as connection:
        queue = connection.SimpleQueue("jobs")
        while True:
            try:
                message = queue.get(timeout=1.0)
            except queue.Empty:
                return numbers
            numbers.append(message.payload["number"])
            message.ack()


def test_a_queue_bound_by_two_processes_at_once_keeps_both_bindings(broker_folder):
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        pool.starmap(declare_queue, [(str(broker_folder), f"queue-{n}") for n in range(8)])
    with connect(broker_folder) as connection:
        table = connection.default_channel.get_table("shared")
    assert sorted(row.queue for row in table) == [f"queue-{n}" for n in range(8)]


def declare_queue(folder: str, name: str) -> None:
    from kombu import Exchange, Queue

    with connect(Path(folder)) as connection:
        Queue(name, Exchange("shared", type="direct"), routing_key=name)(connection.default_channel).declare()
