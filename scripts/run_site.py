"""Serve the site the way ``make run`` does: a Celery worker and the web server, kept running.

Usage: python scripts/run_site.py [--host 127.0.0.1] [--port 8000]
The worker (which also runs the periodic tasks, among them the sweep that queues again the
submissions whose worker or message was lost) is started again whenever it stops, after a
pause that doubles with each quick failure (1 s up to 60 s), so a crash costs seconds of
scoring and never leaves uploads waiting for nobody. The web server is not restarted: if it
stops, everything stops, with its exit code. Ctrl-C (or SIGTERM) stops both; a process that
has not stopped after ``STOP_SECONDS`` is killed.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script from any folder, this file's folder is on the path, not the project's.
sys.path.insert(0, str(ROOT))

from touchstone.workers import worker_command  # noqa: E402

FIRST_PAUSE_SECONDS = 1.0
LONGEST_PAUSE_SECONDS = 60.0
# A worker that ran this long before stopping was healthy: its next restart waits the shortest pause.
HEALTHY_SECONDS = 60.0
STOP_SECONDS = 30.0


def web_command(host: str, port: int) -> list[str]:
    # waitress reads each request whole before a thread sees it, so slow clients hold no thread
    # (touchstone/serve.py says why and which timeouts apply).
    return [sys.executable, "-m", "touchstone.serve", "--host", host, "--port", str(port)]


def say(message: str) -> None:
    print(f"[run_site] {message}", file=sys.stderr, flush=True)


class Supervisor:
    """Keeps one worker running next to the web server until asked to stop."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.stopping = False
        self.worker: subprocess.Popen | None = None
        self.web: subprocess.Popen | None = None
        self.pause = FIRST_PAUSE_SECONDS
        self.worker_started = 0.0

    def request_stop(self, signum: int, frame: object) -> None:
        if self.stopping:
            # A second Ctrl-C: do not wait for a running evaluation to finish.
            self.kill_all()
        self.stopping = True

    def start_worker(self) -> None:
        # The worker leads its own process group, with its pool processes: a Ctrl-C reaches only
        # this script and the web server, and the worker gets one SIGTERM from here, the signal
        # for a warm shutdown (its pool finishes the running task). When it has stopped, the
        # group is killed, so a pool process orphaned by a crash does not linger.
        self.worker = subprocess.Popen(worker_command(beat=True), cwd=ROOT, process_group=0)
        self.worker_started = time.monotonic()
        say(f"started the worker (pid {self.worker.pid})")

    def clear_worker_group(self) -> None:
        if self.worker is not None:
            try:
                os.killpg(self.worker.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def run(self) -> int:
        say(f"starting the worker and the web server at http://{self.host}:{self.port} (Ctrl-C stops both)")
        self.web = subprocess.Popen(web_command(self.host, self.port), cwd=ROOT)
        self.start_worker()
        restart_at: float | None = None
        while not self.stopping:
            time.sleep(0.2)
            if self.web.poll() is not None:
                say(f"the web server stopped with code {self.web.returncode}; stopping the worker")
                self.stop_all()
                return self.web.returncode or 1
            if restart_at is None and self.worker.poll() is not None:
                self.clear_worker_group()
                ran = time.monotonic() - self.worker_started
                if ran >= HEALTHY_SECONDS:
                    self.pause = FIRST_PAUSE_SECONDS
                say(
                    f"the worker stopped with code {self.worker.returncode} after {ran:.0f} s; "
                    f"starting it again in {self.pause:.0f} s"
                )
                restart_at = time.monotonic() + self.pause
                self.pause = min(self.pause * 2, LONGEST_PAUSE_SECONDS)
            if restart_at is not None and time.monotonic() >= restart_at:
                restart_at = None
                self.start_worker()
        say("stopping the worker and the web server")
        self.stop_all()
        return 0

    def children(self) -> list[subprocess.Popen]:
        return [child for child in (self.worker, self.web) if child is not None and child.poll() is None]

    def stop_all(self) -> None:
        for child in self.children():
            child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for child in self.children():
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"pid {child.pid} did not stop within {STOP_SECONDS:.0f} s; killing it")
        self.kill_all()

    def kill_all(self) -> None:
        for child in self.children():
            child.kill()
            child.wait()
        self.clear_worker_group()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    arguments = parser.parse_args(argv)
    supervisor = Supervisor(arguments.host, arguments.port)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
