"""Workers killed or paused mid-evaluation, on PostgreSQL and Redis with two workers and no beat:
every submission ends scored exactly once, soon after its worker was lost.

The quick mode (the default) kills a worker 3 times over 6 submissions; the long mode
(``TOUCHSTONE_KILL_LOOP=long``) kills 20 times over 30. Both print the kill count and each
kill's recovery time.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from evaluation.client import TouchstoneClient
from evaluation.spec import load_benchmark
from tests.models import centroid_model
from tests.services import ROOT, postgres_server, redis_server, running_site, stop, wait_for, worker_command

# Its times matter (a deadline, a latency bound or measured figures): under pytest-xdist it runs
# on one worker with the other files of the "timed" group, never beside them (tests/parallel.py).
pytestmark = [pytest.mark.services, pytest.mark.xdist_group("timed")]

LONG = os.environ.get("TOUCHSTONE_KILL_LOOP", "quick") == "long"
N_SUBMISSIONS, N_KILLS = (30, 20) if LONG else (6, 3)
RECOVERY_SECONDS = 60
STALE_SECONDS = 10

LOSS_ENV = {
    "TOUCHSTONE_THROTTLE_UPLOADS": "10000/hour",
    "TOUCHSTONE_SUBMISSIONS_PER_DAY": "1000",
    "TOUCHSTONE_SANDBOX_WALL_SECONDS": "30",
    "TOUCHSTONE_SANDBOX_MEMORY_MB": "1536",
    "TOUCHSTONE_HEARTBEAT_SECONDS": "1",
    "TOUCHSTONE_HEARTBEAT_STALE_SECONDS": str(STALE_SECONDS),
    "TOUCHSTONE_WATCHDOG_SECONDS": "2",
    # The loop may kill the same submission's runs several times; here that is the test, not a
    # model that makes its workers fail.
    "TOUCHSTONE_MAX_LOST_RUNS": "1000",
}


def descendants(pid: int) -> list[tuple[int, int, str]]:
    """(pid, parent pid, command name) of every process below ``pid``, read from /proc."""
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
        names[int(entry.name)] = name
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for child in children.get(parent, []):
            found.append((child, parent, names[child]))
            todo.append(child)
    return found


class Workers:
    """Celery workers of one site, each in its own process group, started again after a kill."""

    def __init__(self, site, count: int) -> None:
        self.site = site
        self.processes: list[subprocess.Popen | None] = [None] * count
        for index in range(count):
            self.start(index)

    def log(self, index: int) -> Path:
        return self.site.folder / f"worker-{index}.log"

    def start(self, index: int) -> None:
        before = self.log(index).read_bytes().count(b" ready.") if self.log(index).exists() else 0
        with open(self.log(index), "ab") as log:
            self.processes[index] = subprocess.Popen(
                worker_command(hostname=f"w{index}@%h"),
                cwd=ROOT,
                env=self.site.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(
            lambda: self.log(index).read_bytes().count(b" ready.") > before,
            timeout=90,
            what=f"worker {index}",
            process=self.processes[index],
        )

    def evaluating(self) -> list[int]:
        """Workers with a sandbox running below one of their pool processes (a sandbox started by
        the main process itself is the health probe, not an evaluation)."""
        return [
            index
            for index, process in enumerate(self.processes)
            if process is not None
            and any(name == "bwrap" and parent != process.pid for _, parent, name in descendants(process.pid))
        ]

    def signal(self, index: int, number: int) -> None:
        process = self.processes[index]
        assert process is not None
        os.killpg(process.pid, number)

    def kill(self, index: int) -> None:
        self.signal(index, signal.SIGKILL)
        process = self.processes[index]
        assert process is not None
        process.wait()

    def stop(self) -> None:
        for process in self.processes:
            if process is not None:
                stop(process)


@pytest.fixture(scope="module")
def lossy_site(service_folder, digits_folder):
    """PostgreSQL, Redis, gunicorn and two workers of our own (the site's own worker is stopped)."""
    with (
        postgres_server(service_folder / "loss-postgres") as database_url,
        redis_server(service_folder / "loss-redis") as broker_url,
        running_site(
            service_folder / "loss",
            database_url=database_url,
            broker_url=broker_url,
            benchmarks=[digits_folder],
            extra_env=LOSS_ENV,
        ) as site,
    ):
        # The site's own worker goes; ours are named, so that each can be killed and restarted.
        stop(site.processes[0])
        site.database_url = database_url
        site.client = TouchstoneClient(site.url, site.create_researcher("ada"), timeout=120)
        workers = Workers(site, 2)
        site.workers = workers
        # The first worker to start probes the sandbox once; a worker restarted after it does not.
        health = Path(site.env["TOUCHSTONE_DATA_DIR"]) / "private" / "health" / "sandbox.json"
        wait_for(health.exists, timeout=120, what="the workers' first sandbox probe")
        try:
            yield site
        finally:
            workers.stop()


@pytest.fixture(scope="module")
def distinct_models(digits_folder, tmp_path_factory) -> list[Path]:
    dev = load_benchmark(digits_folder).load_split("dev")
    folder = tmp_path_factory.mktemp("loss-models")
    return [
        centroid_model(dev.inputs, dev.labels, 10, folder / f"model-{n}.pt", noise=0.2, seed=100 + n)
        for n in range(N_SUBMISSIONS + 1)
    ]


def query(site, sql: str, parameters: list | None = None) -> list[tuple]:
    with psycopg.connect(site.database_url) as connection:
        return connection.execute(sql, parameters or []).fetchall()


def running_runs(site) -> dict[int, int]:
    """Running submission → its current run."""
    return dict(query(site, "select id, current_run_id from submissions_submission where status = 'running'"))


def silent_since(site, runs: list[int], moment: float) -> list[int]:
    """Of ``runs``, those taken over already, or still running with a heartbeat older than ``moment``."""
    rows = query(
        site,
        "select r.id, r.outcome, s.status = 'running' and s.current_run_id = r.id "
        "and s.heartbeat_at < to_timestamp(%s) "
        "from submissions_evaluationrun r join submissions_submission s on s.id = r.submission_id "
        "where r.id = any(%s)",
        [moment, runs],
    )
    return sorted(run for run, outcome, silent in rows if outcome == "superseded" or silent)


def wait_finished(site, ids: list[int], timeout: float) -> None:
    def done() -> bool:
        rows = query(site, "select status from submissions_submission where id = any(%s)", [ids])
        return all(status in ("scored", "failed", "withdrawn") for (status,) in rows)

    try:
        wait_for(done, timeout=timeout, what="the submissions to finish")
    except TimeoutError as error:
        # Say where each submission stands and what the workers last did, so that a failure
        # here explains itself.
        rows = query(
            site,
            "select id, status, current_run_id, progress_message, dispatched_at, "
            "extract(epoch from now() - heartbeat_at) from submissions_submission where id = any(%s) order by id",
            [ids],
        )
        logs = "\n".join(
            f"--- worker {index} ---\n{site.workers.log(index).read_text(errors='replace')[-2500:]}"
            for index in range(2)
            if site.workers.log(index).exists()
        )
        raise AssertionError(
            f"{error}\nsubmissions (id, status, run, message, sent, heartbeat age):\n{rows}\n{logs}"
        ) from error


def test_killed_workers_lose_no_submission_and_score_none_twice(lossy_site, distinct_models):
    site, workers = lossy_site, lossy_site.workers
    ids = [
        site.client.submit(benchmark="digits", version="1.0.0", model_file=model, model_name=f"Loss {n}")["id"]
        for n, model in enumerate(distinct_models[:N_SUBMISSIONS])
    ]
    rng = random.Random(12)
    kills: list[tuple[float, dict[int, int]]] = []
    deadline = time.monotonic() + 120 + 45 * N_KILLS
    while len(kills) < N_KILLS and time.monotonic() < deadline:
        busy = workers.evaluating()
        running = running_runs(site)
        if not busy or not running:
            time.sleep(0.05)
            continue
        time.sleep(rng.uniform(0.0, 0.3))
        victim = rng.choice(busy)
        killed_at = time.time()
        workers.kill(victim)
        # Read again at once: the victim may have finished a run and claimed the next one since
        # ``running`` was read, and nothing takes a run over this soon.
        running_at_kill = running_runs(site)
        workers.start(victim)
        # The victim's run is the one of those running that has not beaten since the kill (the
        # survivor beats every second, and restarting a worker takes longer than that), apart
        # from runs lost to earlier kills and not yet taken over.
        earlier = {run for _, lost in kills for run in lost}
        candidates = sorted(set(running.values()) | set(running_at_kill.values()))
        lost = [run for run in silent_since(site, candidates, killed_at) if run not in earlier]
        kills.append((killed_at, lost))
    assert len(kills) == N_KILLS, f"only {len(kills)} kills: the submissions finished first"
    # Finishing may take longer than recovering on a loaded machine; each recovery's own time is
    # asserted below against RECOVERY_SECONDS.
    wait_finished(site, ids, timeout=RECOVERY_SECONDS * 5)

    rows = query(
        site,
        "select s.id, s.status, s.current_run_id, count(r.id) filter (where r.outcome = 'scored'), "
        "count(r.id) filter (where r.outcome = 'superseded'), count(r.id) filter (where r.outcome not in "
        "('scored', 'superseded')) from submissions_submission s join submissions_evaluationrun r "
        "on r.submission_id = s.id where s.id = any(%s) group by s.id",
        [ids],
    )
    assert len(rows) == N_SUBMISSIONS
    for submission_id, status, current, scored, _superseded, other in rows:
        assert status == "scored", (submission_id, status)
        assert scored == 1 and other == 0, (submission_id, scored, other)
        scored_run = query(
            site,
            "select id from submissions_evaluationrun where submission_id = %s and outcome = 'scored'",
            [submission_id],
        )
        assert scored_run == [(current,)], "the row's metrics come from its one scored run"

    # Each kill took exactly one run with it (one evaluation per worker); find it and time its recovery.
    superseded_runs = dict(
        query(
            site,
            "select r.id, r.submission_id from submissions_evaluationrun r where r.outcome = 'superseded' "
            "and r.submission_id = any(%s)",
            [ids],
        )
    )
    assert len(superseded_runs) == N_KILLS, f"{len(superseded_runs)} runs were taken over after {N_KILLS} kills"
    # A watchdog on the same machine saw each killed process gone and took its run over at once,
    # without waiting for the heartbeat to go stale.
    fast = {
        int(run)
        for index in range(2)
        for run in re.findall(rb"run (\d+) lost \(its worker's process ended\)", workers.log(index).read_bytes())
    }
    assert fast == set(superseded_runs), (fast, superseded_runs)
    recoveries = []
    for killed_at, lost in kills:
        assert len(lost) == 1 and lost[0] in superseded_runs, (lost, superseded_runs)
        submission_id = superseded_runs[lost[0]]
        # Recovered when the submission's next run scored it, or was running again when killed in turn.
        (recovered,) = query(
            site,
            "select extract(epoch from coalesce(case when outcome = 'scored' then finished_at end, started_at)) "
            "from submissions_evaluationrun where submission_id = %s and id > %s order by id limit 1",
            [submission_id, lost[0]],
        )[0]
        recoveries.append(float(recovered) - killed_at)
    print(
        f"\n{N_KILLS} worker kills over {N_SUBMISSIONS} submissions: recovered after "
        + ", ".join(f"{seconds:.1f} s" for seconds in recoveries)
        + f" (max {max(recoveries):.1f} s); every submission scored exactly once"
    )
    assert max(recoveries) < RECOVERY_SECONDS


def outcome_digest(site, run_id: int) -> str:
    ((path,),) = query(site, "select outcomes_path from submissions_evaluationrun where id = %s", [run_id])
    data = Path(site.env["TOUCHSTONE_DATA_DIR"]) / "private" / path
    return hashlib.sha256(data.read_bytes()).hexdigest()


def test_a_paused_worker_that_resumes_after_a_takeover_writes_nothing_that_survives(lossy_site, distinct_models):
    site, workers = lossy_site, lossy_site.workers
    submission_id = site.client.submit(
        benchmark="digits", version="1.0.0", model_file=distinct_models[-1], model_name="Paused"
    )["id"]
    wait_for(lambda: submission_id in running_runs(site) and workers.evaluating(), timeout=90, what="the evaluation")
    paused_run = running_runs(site)[submission_id]
    (paused,) = workers.evaluating()
    workers.signal(paused, signal.SIGSTOP)
    paused_at = time.time()
    try:
        final = site.client.wait(submission_id, poll_seconds=0.5, timeout=RECOVERY_SECONDS * 2)
        assert final["status"] == "scored"
        ((scored_run,),) = query(
            site, "select current_run_id from submissions_submission where id = %s", [submission_id]
        )
        assert scored_run != paused_run
        print(f"\nthe paused worker's submission was scored by the other after {time.time() - paused_at:.1f} s")
        metrics = query(
            site,
            "select part, metric, value, ci_low, ci_high from submissions_metricresult where submission_id = %s "
            "order by part, metric",
            [submission_id],
        )
        digest = outcome_digest(site, scored_run)
    finally:
        workers.signal(paused, signal.SIGCONT)
    log = workers.log(paused)
    wait_for(
        lambda: b"after it lost the row" in log.read_bytes(), timeout=90, what="the resumed worker to finish its run"
    )
    assert query(site, "select status, current_run_id from submissions_submission where id = %s", [submission_id]) == [
        ("scored", scored_run)
    ]
    assert query(
        site, "select outcome from submissions_evaluationrun where submission_id = %s order by id", [submission_id]
    ) == [("superseded",), ("scored",)]
    assert (
        query(
            site,
            "select part, metric, value, ci_low, ci_high from submissions_metricresult where submission_id = %s "
            "order by part, metric",
            [submission_id],
        )
        == metrics
    )
    assert outcome_digest(site, scored_run) == digest
    # Its process was alive all along, only stopped: the heartbeat, not the process check, gave it up.
    logs = b"".join(workers.log(index).read_bytes() for index in range(2))
    assert f"run {paused_run} lost (its worker stopped answering)".encode() in logs
    folder = Path(site.env["TOUCHSTONE_DATA_DIR"]) / "private" / "outcomes" / str(submission_id)
    assert not list(folder.glob(f"run-{paused_run}-*")), "the resumed run's outcome file was left behind"
