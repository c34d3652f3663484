"""Real services for the tests that claim production behaviour: PostgreSQL, Redis, a web
server and a Celery worker, each started in a temporary folder on a free loopback port and
stopped when the test session ends."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from touchstone.workers import worker_command as site_worker_command

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(check, *, timeout: float, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} before it was ready")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{what} was not ready within {timeout:.0f} s")


def stop(process: subprocess.Popen, *, timeout: float = 15.0) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _as_postgres(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI runs as root, a developer usually does not.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextmanager
def postgres_server(folder: Path):
    """A throwaway PostgreSQL cluster; yields its DATABASE_URL."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not binaries:
        raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    bin_dir = Path(binaries[-1])
    data, sockets = folder / "pgdata", folder / "pgsock"
    data.mkdir(parents=True)
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(data, "postgres")
        shutil.chown(sockets, "postgres")
    subprocess.run(
        _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth", "trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    port = free_port()
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run(
        _as_postgres(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "pg.log"), "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            _as_postgres(
                [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "touchstone"]
            ),
            check=True,
            capture_output=True,
        )
        yield f"postgres://postgres@127.0.0.1:{port}/touchstone"
    finally:
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]), capture_output=True
        )


@contextmanager
def redis_server(folder: Path):
    """A Redis server without persistence; yields its URL."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise RuntimeError("Redis is not installed (Debian: apt-get install redis-server)")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [
            executable,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:

        def ping() -> bool:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")

        wait_for(ping, timeout=15, what="redis-server", process=process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(process)


@dataclass
class Site:
    """A running Touchstone: web server and worker against one database and broker."""

    url: str
    env: dict[str, str]
    folder: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

    def manage(self, *arguments: str, timeout: float = 300) -> str:
        completed = subprocess.run(
            [sys.executable, "manage.py", *arguments],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(arguments)} failed:\n{completed.stdout}\n{completed.stderr}")
        return completed.stdout

    def create_researcher(self, username: str) -> str:
        """Create a user and return its API token, the way a maintainer would."""
        env_user = {**self.env, "DJANGO_SUPERUSER_PASSWORD": "correct-horse-battery-staple"}
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "createsuperuser",
                "--noinput",
                "--username",
                username,
                "--email",
                f"{username}@example.org",
            ],
            cwd=ROOT,
            env=env_user,
            check=True,
            capture_output=True,
        )
        output = self.manage("drf_create_token", username)
        return output.split("Generated token ")[1].split()[0]

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def site_environment(folder: Path, *, database_url: str | None, broker_url: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "TOUCHSTONE_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "touchstone.settings",
            "TOUCHSTONE_DATA_DIR": str(folder / "data"),
            "TOUCHSTONE_BOOTSTRAP_RESAMPLES": "500",
            "TOUCHSTONE_SANDBOX_WALL_SECONDS": "60",
            "TOUCHSTONE_SANDBOX_MEMORY_MB": "2048",
            # Clean runs only, as in the in-process site tests; the embedded default's worker test
            # turns the robustness suite back on.
            "TOUCHSTONE_EVALUATION_SUITE": "0",
            # Tests send the same model file many times to test other things, as in the
            # in-process site tests; the refusal of identical files has its own tests.
            "TOUCHSTONE_REFUSE_IDENTICAL_UPLOADS": "0",
            # Tests read pages right after changing them; perf/load.py serves them as the site does.
            "TOUCHSTONE_PUBLIC_CACHE_SECONDS": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    if broker_url:
        env["CELERY_BROKER_URL"] = broker_url
    return env


def worker_command(*, hostname: str | None = None) -> list[str]:
    """The site's worker command (``touchstone.workers``) for one process on the site's queues,
    without gossip, mingle or heartbeats; ``hostname`` names it when several share the host."""
    return site_worker_command(hostname=hostname, cluster_events=False)


@contextmanager
def running_site(
    folder: Path,
    *,
    database_url: str | None = None,
    broker_url: str | None = None,
    benchmarks: list[Path] = (),
    extra_env: dict[str, str] | None = None,
):
    """Migrate, publish ``benchmarks``, then start the web server (waitress, as in production) and a Celery worker."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {**site_environment(folder, database_url=database_url, broker_url=broker_url), **(extra_env or {})}
    port = free_port()
    site = Site(url=f"http://127.0.0.1:{port}", env=env, folder=folder)
    site.manage("migrate", "--noinput")
    for benchmark in benchmarks:
        site.manage("publish_benchmark", str(benchmark))
    commands = {
        "worker": worker_command(),
        "web": [sys.executable, "-m", "touchstone.serve", "--host", "127.0.0.1", "--port", str(port), "--threads", "4"],
    }
    try:
        for name, command in commands.items():
            log = open(folder / f"{name}.log", "wb")
            site.processes.append(
                subprocess.Popen(
                    command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
        try:
            wait_for(
                lambda: urllib.request.urlopen(site.url + "/api/v1/benchmarks/", timeout=2).status == 200,
                timeout=60,
                what="the web server",
                process=site.processes[1],
            )
            wait_for(
                lambda: b"ready" in (folder / "worker.log").read_bytes(),
                timeout=60,
                what="celery worker",
                process=site.processes[0],
            )
        except (RuntimeError, TimeoutError) as error:
            raise RuntimeError(
                f"{error}\nworker log:\n{site.log('worker')[-3000:]}\nweb log:\n{site.log('web')[-3000:]}"
            ) from error
        yield site
    finally:
        for process in site.processes:
            stop(process)


@contextmanager
def supervised_site(folder: Path, *, benchmarks: list[Path] = (), extra_env: dict[str, str] | None = None):
    """``make run``'s processes (``scripts/run_site.py``: a worker with the periodic tasks, restarted
    when it stops, and the web server) on its embedded defaults, SQLite and the filesystem broker.

    The supervisor's output, the worker's and the web server's all go to ``site.log``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    env = {**site_environment(folder, database_url=None, broker_url=None), **(extra_env or {})}
    port = free_port()
    site = Site(url=f"http://127.0.0.1:{port}", env=env, folder=folder)
    site.manage("migrate", "--noinput")
    for benchmark in benchmarks:
        site.manage("publish_benchmark", str(benchmark))
    with open(folder / "site.log", "wb") as log:
        supervisor = subprocess.Popen(
            [sys.executable, "scripts/run_site.py", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    site.processes.append(supervisor)
    try:
        try:
            wait_for(
                lambda: urllib.request.urlopen(site.url + "/api/v1/benchmarks/", timeout=2).status == 200,
                timeout=60,
                what="the web server",
                process=supervisor,
            )
            wait_for(lambda: worker_starts(site) >= 1, timeout=60, what="celery worker", process=supervisor)
        except (RuntimeError, TimeoutError) as error:
            raise RuntimeError(f"{error}\nsite log:\n{site.log('site')[-4000:]}") from error
        yield site
    finally:
        stop(supervisor, timeout=60)


def worker_starts(site: Site) -> int:
    """How many times a worker of a supervised site has reported that it is ready."""
    return site.log("site").count(" ready.")


def worker_pid(site: Site) -> int:
    """The process id of a supervised site's current worker, from the supervisor's log."""
    marker = "[run_site] started the worker (pid "
    lines = [line for line in site.log("site").splitlines() if line.startswith(marker)]
    if not lines:
        raise RuntimeError(f"the supervisor has not started a worker:\n{site.log('site')[-3000:]}")
    return int(lines[-1][len(marker) :].rstrip(")"))
