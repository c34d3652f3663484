"""Leaderboard latency while a burst of submissions drains, on the production stack.

Starts a throwaway PostgreSQL cluster and Redis (broker and cache), migrates, publishes digits,
and runs the web server (``python -m touchstone.serve``, waitress) and ``--workers`` Celery
workers (``tests/services.py``). One researcher uploads a first model per team through the API
and waits until they are scored, so that the board has its entries from the start; then:

- idle: ``--readers`` concurrent readers, each alternating the leaderboard page and the board
  API over keep-alive connections, for ``--idle-seconds`` with nothing queued;
- drain: the same readers while ``--submissions`` more models (tiny centroid classifiers, each a
  distinct file) are uploaded through the API, as researchers do, and drain through the workers.

For each phase it prints p50, p95 and p99 latency (ms) and requests per second of the page and
of the API, the reader errors (any answer that is not 2xx or 3xx, or no answer), the machine's
load average and CPU use; for the drain, the upload and drain times; then a check that every
submission ended ``scored`` with exactly one scored run. The last line is ``ratio X.XX``: the
page's p95 during the drain over its p95 idle (target at most 1.5, with the drain's p95 under
300 ms). ``--json`` prints the figures as one JSON document on stdout and the report on stderr.
Exits with 1 if a reader saw an error or a submission was not scored exactly once (never for
the timing targets, which depend on the machine).

Clean runs only (``TOUCHSTONE_EVALUATION_SUITE=0``): the robustness suite multiplies each run's
sandbox work by about forty and would measure the sandbox instead of the site.

    python perf/load.py [--submissions 200] [--readers 20] [--workers 2] [--idle-seconds 30] [--json]
                        [--public-cache-seconds 5]    # 0: every page rendered, as for a signed-in reader
    python perf/load.py --quick      # 12 submissions, 4 readers, 5 s idle
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import psycopg

from evaluation.client import TouchstoneClient
from evaluation.spec import load_benchmark
from tests.models import centroid_model
from tests.services import ROOT, postgres_server, redis_server, running_site, stop, wait_for, worker_command

TARGET_RATIO = 1.5
TARGET_DRAIN_P95_MS = 300.0
FINISHED = ("scored", "failed", "withdrawn")


@dataclass
class Readers:
    """``count`` threads, each reading ``paths`` in turn on its own keep-alive connection until stopped."""

    port: int
    paths: dict[str, str]
    count: int
    samples: list[tuple[str, float, int]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self.began = time.perf_counter()
        self._threads = [threading.Thread(target=self._read, args=(n,), daemon=True) for n in range(self.count)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> float:
        """Stop reading; the seconds read."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        return time.perf_counter() - self.began

    def _read(self, number: int) -> None:
        kinds = list(self.paths)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        turn = number  # readers start on different kinds, so both are read from the first second
        samples, failures = [], []
        while not self._stop.is_set():
            kind = kinds[turn % len(kinds)]
            turn += 1
            began = time.perf_counter()
            try:
                connection.request("GET", self.paths[kind])
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                failures.append(f"{kind}: {type(error).__name__}: {error}")
                continue
            samples.append((kind, time.perf_counter() - began, status))
            if not 200 <= status < 400:
                failures.append(f"{kind}: HTTP {status}")
            if response.getheader("Connection", "").lower() == "close":
                connection.close()
        connection.close()
        self.samples.extend(samples)
        self.failures.extend(failures)


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user and system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """The machine's CPU use between two moments, from /proc/stat, its load averages, and the
    CPU the web server used: per request, the one figure the other work on the machine hardly
    changes."""

    def __init__(self, web_pid: int) -> None:
        self.web_pid = web_pid
        self.web_before = process_cpu_seconds(web_pid)
        self.loadavg_before = os.getloadavg()
        self.before = self._times()

    @staticmethod
    def _times() -> tuple[int, int]:
        values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + values[4]  # idle and iowait
        return sum(values), idle

    def read(self) -> dict:
        total, idle = self._times()
        spent = max(total - self.before[0], 1)
        return {
            "web_cpu_seconds": process_cpu_seconds(self.web_pid) - self.web_before,
            "cpu_busy": round(1 - (idle - self.before[1]) / spent, 3),
            "loadavg_before": [round(value, 2) for value in self.loadavg_before],
            "loadavg_after": [round(value, 2) for value in os.getloadavg()],
        }


def figures(latencies: list[float], seconds: float) -> dict:
    milliseconds = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    p50, p95, p99 = (float(np.percentile(milliseconds, q)) for q in (50, 95, 99))
    return {"requests": len(latencies), "p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "rps": len(latencies) / seconds}


def phase_figures(readers: Readers, seconds: float, meter: CpuMeter) -> dict:
    result = {kind: figures([s for k, s, _ in readers.samples if k == kind], seconds) for kind in readers.paths}
    result["all"] = figures([s for _, s, _ in readers.samples], seconds)
    result.update(seconds=seconds, errors=len(readers.failures), error_examples=readers.failures[:5], **meter.read())
    result["web_cpu_ms_per_request"] = 1000 * result["web_cpu_seconds"] / max(1, result["all"]["requests"])
    return result


def query(database_url: str, sql: str, parameters: list | None = None) -> list[tuple]:
    with psycopg.connect(database_url) as connection:
        return connection.execute(sql, parameters or []).fetchall()


def wait_finished(site, database_url: str, ids: list[int], timeout: float) -> None:
    def done() -> bool:
        rows = query(database_url, "select status from submissions_submission where id = any(%s)", [ids])
        return len(rows) == len(ids) and all(status in FINISHED for (status,) in rows)

    try:
        wait_for(done, timeout=timeout, what=f"{len(ids)} submissions to finish")
    except TimeoutError as error:
        # Say where each submission stands and what the workers last logged.
        rows = query(
            database_url,
            "select status, progress_message, count(*) from submissions_submission where id = any(%s) "
            "group by status, progress_message",
            [ids],
        )
        logs = "\n".join(
            f"--- {path.name} ---\n{path.read_text(errors='replace')[-2000:]}"
            for path in sorted(site.folder.glob("worker*.log"))
        )
        raise TimeoutError(f"{error}\n(status, message, count): {rows}\n{logs}") from error


def scoring_problems(database_url: str, ids: list[int]) -> list[str]:
    """Every submission of ``ids`` that did not end scored with exactly one scored run."""
    rows = query(
        database_url,
        "select s.id, s.status, count(r.id) filter (where r.outcome = 'scored') "
        "from submissions_submission s left join submissions_evaluationrun r on r.submission_id = s.id "
        "where s.id = any(%s) group by s.id, s.status",
        [ids],
    )
    problems = [f"submission {i} is {status} with {scored} scored runs" for i, status, scored in rows if scored != 1]
    problems += [f"submission {i} is {status}" for i, status, scored in rows if scored == 1 and status != "scored"]
    missing = set(ids) - {row[0] for row in rows}
    return problems + [f"submission {i} is missing" for i in sorted(missing)]


def start_workers(site, count: int) -> list[subprocess.Popen]:
    """``count`` more named workers beside the site's own, each ready before the next starts."""
    workers = []
    for index in range(1, count + 1):
        log_path = site.folder / f"worker-{index}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                worker_command(hostname=f"w{index}@%h"),
                cwd=ROOT,
                env=site.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        workers.append(process)
        wait_for(
            lambda path=log_path: b" ready." in path.read_bytes(), timeout=120, what=f"worker {index}", process=process
        )
    return workers


def run(arguments: argparse.Namespace, report) -> dict:
    from catalog import BUILDERS

    teams = arguments.teams
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="touchstone-load-")))
        folder.chmod(0o755)  # PostgreSQL runs as its own user and must enter it
        BUILDERS["digits"](folder / "digits")
        dev = load_benchmark(folder / "digits").load_split("dev")
        (folder / "models").mkdir()
        models = [
            centroid_model(dev.inputs, dev.labels, 10, folder / "models" / f"m{n}.pt", noise=0.2, seed=1000 + n)
            for n in range(teams + arguments.submissions)
        ]
        database_url = stack.enter_context(postgres_server(folder / "postgres"))
        broker_url = stack.enter_context(redis_server(folder / "redis"))
        cache_url = broker_url.rsplit("/", 1)[0] + "/1"
        quota = str(teams + arguments.submissions + 10)
        site = stack.enter_context(
            running_site(
                folder / "site",
                database_url=database_url,
                broker_url=broker_url,
                benchmarks=[folder / "digits"],
                extra_env={
                    "TOUCHSTONE_SUBMISSIONS_PER_DAY": quota,
                    "TOUCHSTONE_THROTTLE_UPLOADS": "100000/hour",
                    # All readers come from one address, which real visitors do not; anonymous
                    # requests count against the per-user rate too. A one-second window keeps
                    # the throttles' history as short as many visitors' would be.
                    "TOUCHSTONE_THROTTLE_ANON": "100000/second",
                    "TOUCHSTONE_THROTTLE_USER": "100000/second",
                    "TOUCHSTONE_BOOTSTRAP_RESAMPLES": "2000",
                    "TOUCHSTONE_CACHE_URL": cache_url,
                    "TOUCHSTONE_PUBLIC_CACHE_SECONDS": str(arguments.public_cache_seconds),
                },
            )
        )
        workers = start_workers(site, arguments.workers - 1)
        stack.callback(lambda: [stop(process) for process in workers])
        client = TouchstoneClient(site.url, site.create_researcher("ada"), timeout=120)
        port = int(site.url.rsplit(":", 1)[1])
        web_pid = site.processes[1].pid
        paths = {"page": "/benchmarks/digits/1.0.0/", "api": "/api/v1/benchmarks/digits/versions/1.0.0/leaderboard/"}

        def submit(n: int) -> int:
            team = f"team-{n % teams}"
            return client.submit(
                benchmark="digits", version="1.0.0", model_file=models[n], model_name=f"Load {n}", team=team
            )["id"]

        report(f"warming up: one submission for each of {teams} teams, scored before the idle phase")
        warm = [submit(n) for n in range(teams)]
        wait_finished(site, database_url, warm, timeout=60 + 30 * teams)
        # Baselines a publication queues count as work too: the idle phase starts with none left.
        wait_for(lambda: not query(database_url, busy_sql()), timeout=60 + 30 * teams, what="the queue to empty")

        report(f"idle: {arguments.readers} readers for {arguments.idle_seconds:.0f} s, nothing queued")
        meter, readers = CpuMeter(web_pid), Readers(port, paths, arguments.readers)
        readers.start()
        time.sleep(arguments.idle_seconds)
        idle = phase_figures(readers, readers.stop(), meter)

        report(f"drain: {arguments.readers} readers while {arguments.submissions} uploads drain")
        meter, readers = CpuMeter(web_pid), Readers(port, paths, arguments.readers)
        readers.start()
        began = time.perf_counter()
        ids = [submit(teams + n) for n in range(arguments.submissions)]
        uploaded = time.perf_counter() - began
        wait_finished(site, database_url, ids, timeout=120 + 20 * arguments.submissions)
        drained = time.perf_counter() - began
        drain = phase_figures(readers, readers.stop(), meter)
        drain.update(upload_seconds=uploaded, drain_seconds=drained)
        problems = scoring_problems(database_url, warm + ids)
    ratio = drain["page"]["p95_ms"] / idle["page"]["p95_ms"]
    return {
        "settings": {
            "submissions": arguments.submissions,
            "teams": teams,
            "readers": arguments.readers,
            "workers": arguments.workers,
            "public_cache_seconds": arguments.public_cache_seconds,
            "cpus": os.cpu_count(),
        },
        "idle": idle,
        "drain": drain,
        "scoring": {"submissions": len(warm) + len(ids), "problems": problems},
        "ratio_p95": ratio,
        "targets": {
            "ratio_p95": TARGET_RATIO,
            "drain_p95_ms": TARGET_DRAIN_P95_MS,
            "met": ratio <= TARGET_RATIO and drain["page"]["p95_ms"] < TARGET_DRAIN_P95_MS,
        },
    }


def busy_sql() -> str:
    """Submissions queued or running, and versions whose stored board is behind what it is computed from."""
    return (
        "select id from submissions_submission where status in ('queued', 'running') union all "
        "select v.id from benchmarks_benchmarkversion v left join rankings_leaderboardsnapshot b "
        "on b.version_id = v.id where b.id is null or b.computed_generation < v.generation"
    )


def describe(result: dict) -> list[str]:
    lines = []
    for name in ("idle", "drain"):
        phase = result[name]
        lines.append(
            f"{name}: {phase['seconds']:.1f} s, {phase['errors']} reader errors, CPU busy {phase['cpu_busy']:.0%}, "
            f"load average {phase['loadavg_before'][0]:.2f} → {phase['loadavg_after'][0]:.2f}, "
            f"web server CPU {phase['web_cpu_ms_per_request']:.1f} ms per request"
        )
        for kind in ("page", "api", "all"):
            f = phase[kind]
            lines.append(
                f"  {kind:<5} p50 {f['p50_ms']:7.1f} ms  p95 {f['p95_ms']:7.1f} ms  p99 {f['p99_ms']:7.1f} ms  "
                f"{f['rps']:6.1f} req/s  ({f['requests']} requests)"
            )
        for example in phase["error_examples"]:
            lines.append(f"  error: {example}")
    drain, scoring = result["drain"], result["scoring"]
    lines.append(
        f"uploads: {drain['upload_seconds']:.1f} s; drain (first upload to last finished): {drain['drain_seconds']:.1f} s"
    )
    lines.append(
        f"scored exactly once: {scoring['submissions'] - len(scoring['problems'])} of {scoring['submissions']}"
        + "".join(f"\n  {problem}" for problem in scoring["problems"][:10])
    )
    targets = result["targets"]
    lines.append(
        f"targets: page p95 during the drain {drain['page']['p95_ms']:.1f} ms (< {targets['drain_p95_ms']:.0f}), "
        f"ratio ≤ {targets['ratio_p95']}: {'met' if targets['met'] else 'not met'}"
    )
    lines.append(f"ratio {result['ratio_p95']:.2f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, help="uploads in the drain phase (200; 12 with --quick)")
    parser.add_argument("--readers", type=int, help="concurrent readers (20; 4 with --quick)")
    parser.add_argument("--workers", type=int, default=2, help="Celery workers, one process each (2)")
    parser.add_argument("--teams", type=int, help="teams, each scored once before the idle phase (20; 2 with --quick)")
    parser.add_argument("--idle-seconds", type=float, help="length of the idle phase (30; 5 with --quick)")
    parser.add_argument(
        "--public-cache-seconds", type=int, default=5, help="page age for anonymous readers (5; 0: none)"
    )
    parser.add_argument("--quick", action="store_true", help="a short run: 12 submissions, 4 readers, 5 s idle")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on stdout, the report on stderr")
    arguments = parser.parse_args()
    defaults = (12, 4, 2, 5.0) if arguments.quick else (200, 20, 20, 30.0)
    for name, default in zip(("submissions", "readers", "teams", "idle_seconds"), defaults, strict=True):
        if getattr(arguments, name) is None:
            setattr(arguments, name, default)
    if arguments.workers < 1 or arguments.readers < 1 or arguments.submissions < 1 or arguments.teams < 1:
        parser.error("--workers, --readers, --submissions and --teams must each be at least 1")
    stream = sys.stderr if arguments.json else sys.stdout
    began = time.monotonic()

    def report(line: str) -> None:
        print(f"[{time.monotonic() - began:5.0f} s] {line}", file=stream, flush=True)

    result = run(arguments, report)
    for line in describe(result):
        print(line, file=stream, flush=True)
    if arguments.json:
        print(json.dumps(result, indent=2))
    failed = result["idle"]["errors"] or result["drain"]["errors"] or result["scoring"]["problems"]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
