"""Messages per second through the embedded broker, against kombu's own filesystem transport.

For each transport, in a fresh temporary folder: publishes N messages of the size of a task
message (about 1 KB) from one process and reports messages/second, then consumes and
acknowledges them and reports messages/second; then runs two writer processes against one
reader at the same time and counts the messages delivered whole and the reads that failed
(each failed read stops a Celery worker on kombu's transport; on the embedded one the file is
set aside). The atomic transport pays one fsync per message, which bounds its publishing rate
by the disk's flush latency. The last line is ``publish ratio X.XX``: embedded over kombu.

    python perf/broker.py [--messages 2000] [--concurrent 300]
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kombu import Connection
from kombu.transport import filesystem

from touchstone.broker import Transport as AtomicTransport

TRANSPORTS = {"kombu filesystem": filesystem.Transport, "embedded (atomic)": AtomicTransport}
PAYLOAD = {"task": "touchstone.tasks.evaluate_submission", "padding": "x" * 900}


def connect(transport: str, folder: Path) -> Connection:
    for name in ("queue", "processed", "control"):
        (folder / name).mkdir(exist_ok=True)
    options = {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "error_folder": str(folder / "error"),
        "polling_interval": 0.01,
    }
    return Connection("filesystem://", transport=TRANSPORTS[transport], transport_options=options)


def publish(transport: str, folder: str, count: int) -> float:
    """Seconds to publish ``count`` messages."""
    with connect(transport, Path(folder)) as connection:
        queue = connection.SimpleQueue("perf")
        began = time.perf_counter()
        for number in range(count):
            queue.put({**PAYLOAD, "number": number})
        return time.perf_counter() - began


def consume(transport: str, folder: Path, count: int, timeout: float) -> tuple[int, int, float]:
    """Messages delivered whole, failed reads and seconds, reading until ``count`` or ``timeout``."""
    delivered = failed = 0
    with connect(transport, folder) as connection:
        queue = connection.SimpleQueue("perf")
        began = time.perf_counter()
        while delivered < count and time.perf_counter() - began < timeout:
            try:
                message = queue.get(timeout=1.0)
            except queue.Empty:
                continue
            except Exception:  # what stops a Celery worker on kombu's transport
                failed += 1
                continue
            message.ack()
            delivered += 1
        return delivered, failed, time.perf_counter() - began


def measure(transport: str, messages: int, concurrent: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="broker-perf-") as sequential_folder:
        published = publish(transport, sequential_folder, messages)
        delivered, _, consumed = consume(transport, Path(sequential_folder), messages, timeout=120)
    with tempfile.TemporaryDirectory(prefix="broker-perf-") as folder:
        connect(transport, Path(folder)).close()
        context = multiprocessing.get_context("spawn")
        writers = [context.Process(target=publish, args=(transport, folder, concurrent)) for _ in range(2)]
        for writer in writers:
            writer.start()
        whole, failed, _ = consume(transport, Path(folder), 2 * concurrent, timeout=60)
        for writer in writers:
            writer.join()
    return {
        "publish": messages / published,
        "consume": delivered / consumed,
        "whole": whole,
        "failed": failed,
        "sent": 2 * concurrent,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrent", type=int, default=300, help="messages per writer in the concurrent run")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # the set-aside files are counted, not logged
    results = {name: measure(name, arguments.messages, arguments.concurrent) for name in TRANSPORTS}
    print(f"{'transport':<20} {'publish msg/s':>14} {'consume msg/s':>14}   two writers, one reader")
    for name, result in results.items():
        print(
            f"{name:<20} {result['publish']:>14.0f} {result['consume']:>14.0f}   "
            f"{result['whole']:.0f} of {result['sent']} delivered whole, {result['failed']:.0f} failed reads"
        )
    ratio = results["embedded (atomic)"]["publish"] / results["kombu filesystem"]["publish"]
    print(f"publish ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
