"""What a process inside the real sandbox can reach: no network, no host files, no privileges.

A probe program (standard library only, so the test needs no torch import) is started by the
worker's own start-up code (``start_child``) in place of the child program, with the very
bubblewrap arguments, account and seccomp filter the sandbox uses for models, while a TCP
server listens on the host's loopback, standing in for the site, Redis and PostgreSQL.
"""

from __future__ import annotations

import errno
import socket
import sys
import threading
from pathlib import Path

import pytest

from evaluation.sandbox.launch import child_environment
from tests.security.sandbox_probe import run_probe


class LoopbackServer:
    """A TCP server on 127.0.0.1 that records every connection it accepts."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen()
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.socket.accept()
            except OSError:
                continue
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.socket.close()


@pytest.fixture
def server():
    server = LoopbackServer()
    yield server
    server.close()


def _probe(tmp_path: Path, server, *, seccomp: bool, paths: list[str], monkeypatch=None) -> dict:
    if not seccomp:
        # Take the seccomp layer away to show what the namespaces stop on their own.
        monkeypatch.setattr("evaluation.sandbox.launch.build_filter_fd", lambda: None)
    model = tmp_path / "model.pt"
    model.write_bytes(b"not read by the probe")
    return run_probe(model, server.port, paths)


def test_a_sandboxed_process_cannot_open_a_socket_or_reach_a_loopback_server(
    bubblewrap, server: LoopbackServer, tmp_path: Path
):
    # The server is reachable from the host: the probe's failure below is the sandbox's doing.
    with socket.create_connection(("127.0.0.1", server.port), timeout=3):
        pass
    connections_from_host = 1

    report = _probe(tmp_path, server, seccomp=True, paths=[])

    eperm = f"errno {errno.EPERM}"
    assert report["inet_socket"] == eperm
    assert report["unix_socket"] == eperm
    assert report["connect"] == eperm
    assert server.connections == connections_from_host


def test_the_network_namespace_alone_keeps_the_loopback_server_out_of_reach(
    bubblewrap, server: LoopbackServer, tmp_path: Path, monkeypatch
):
    # Without the seccomp layer the probe may create sockets, but its loopback is its own.
    report = _probe(tmp_path, server, seccomp=False, paths=[], monkeypatch=monkeypatch)

    assert report["seccomp"] == "0"
    assert report["inet_socket"] == "ok"
    assert report["connect"] in (f"errno {errno.ECONNREFUSED}", f"errno {errno.ENETUNREACH}")
    assert server.connections == 0


def test_a_sandboxed_process_sees_no_host_files_has_no_privileges_and_cannot_unshare(
    bubblewrap, server: LoopbackServer, tmp_path: Path
):
    secret = tmp_path / "secret.txt"
    secret.write_text("hidden labels")
    paths = [str(secret), "/etc/passwd", "/etc/shadow", "/work", str(Path.home() / ".ssh"), "/var", "/run", sys.prefix]

    report = _probe(tmp_path, server, seccomp=True, paths=paths)

    visible = report["visible"]
    assert visible.pop(sys.prefix) is True  # the interpreter is bound, read-only
    assert not any(visible.values()), visible
    assert (report["uid"], report["gid"]) == (65534, 65534)
    assert int(report["cap_effective"], 16) == 0
    assert report["no_new_privs"] == "1"
    assert report["seccomp"] == "2"  # a filter is installed
    assert report["unshare"] == f"errno {errno.EPERM}"
    assert report["write_root"] == f"errno {errno.EROFS}"
    assert report["write_dev"] == f"errno {errno.EROFS}"
    assert report["write_tmp"] == "ok"
    assert set(report["environment"]) <= set(child_environment(1)) | {"PWD", "LC_CTYPE"}


@pytest.mark.services
@pytest.mark.parametrize("seccomp", [True, False], ids=["all-layers", "namespace-alone"])
def test_a_sandboxed_process_cannot_reach_the_site_redis_or_postgresql(
    bubblewrap, production_site, tmp_path: Path, seccomp: bool, monkeypatch
):
    from types import SimpleNamespace
    from urllib.parse import urlsplit

    ports = {
        "site": urlsplit(production_site.url).port,
        "redis": urlsplit(production_site.broker_url).port,
        "postgresql": urlsplit(production_site.database_url).port,
    }
    for name, port in ports.items():
        # Each service answers from the host, so a refusal below is the sandbox's doing.
        with socket.create_connection(("127.0.0.1", port), timeout=3):
            pass
        folder = tmp_path / name
        folder.mkdir()
        report = _probe(folder, SimpleNamespace(port=port), seccomp=seccomp, paths=[], monkeypatch=monkeypatch)
        expected = (
            {f"errno {errno.EPERM}"} if seccomp else {f"errno {errno.ECONNREFUSED}", f"errno {errno.ENETUNREACH}"}
        )
        assert report["connect"] in expected, (name, report["connect"])
