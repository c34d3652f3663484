"""The web server applies each URL's body cap before it buffers a body, not only the largest cap.

The server runs in this process, so the tests can look at its open files: waitress keeps a body
it buffers past 512 KiB in an anonymous temporary file, which shows in ``/proc/self/fd`` as a
deleted file of the temporary folder while the request lasts.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
from pathlib import Path

import pytest

from tests.services import free_port
from touchstone.serve import capped_server, server_options

MIB = 1024 * 1024
CHUNK = b"\0" * MIB
BODY_MIB = 150  # past the 100 MiB model cap, under the 500 MiB draft cap
PROBE_AFTER_MIB = 24  # sent and, given socket buffers of a few MiB, read by the server


def buffered_bodies() -> set[tuple[str, str]]:
    """The anonymous temporary files this process holds open (waitress's spooled bodies among them)."""
    found = set()
    for descriptor in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{descriptor}")
        except OSError:
            continue
        if target.startswith(tempfile.gettempdir()) and target.endswith("(deleted)"):
            found.add((descriptor, target))
    return found


@pytest.fixture
def server(settings, tmp_path):
    upload_temp = tmp_path / "upload-tmp"
    upload_temp.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(upload_temp)
    from touchstone.wsgi import application

    port = free_port()
    running = capped_server(application, **server_options(host="127.0.0.1", port=port, threads=2))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    yield port
    running.close()


def start_upload(port: int, path: str) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    connection.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {BODY_MIB * MIB}\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\n\r\n".encode()
    )
    return connection


def read_response(connection: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body of the answer on a connection the server closes after it."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    head, body = received.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        chunks, rest = [], body
        while (size := int(rest.split(b"\r\n", 1)[0], 16)) > 0:
            rest = rest.split(b"\r\n", 1)[1]
            chunks.append(rest[:size])
            rest = rest[size + 2 :]
        body = b"".join(chunks)
    return int(lines[0].split()[1]), headers, body


def test_a_150_mib_body_to_the_model_upload_url_is_refused_in_json_and_never_buffered(server, settings, tmp_path):
    before = buffered_bodies()
    with start_upload(server, "/api/v1/submissions/") as connection:
        for _ in range(PROBE_AFTER_MIB):
            connection.sendall(CHUNK)
        assert buffered_bodies() <= before  # read and thrown away, not spooled to disk
        for _ in range(BODY_MIB - PROBE_AFTER_MIB):
            connection.sendall(CHUNK)
        status, headers, body = read_response(connection)
    assert status == 413
    assert headers["content-type"] == "application/json"
    answer = json.loads(body)
    assert answer["field"] == "model_file" and "150 MiB" in answer["detail"] and "100 MiB" in answer["detail"]
    assert buffered_bodies() <= before
    assert list((tmp_path / "upload-tmp").iterdir()) == []
    assert not (Path(settings.PRIVATE_STORAGE_ROOT) / "submissions").exists()


def test_a_body_under_its_own_urls_cap_is_still_buffered_as_before(server):
    before = buffered_bodies()
    with start_upload(server, "/benchmarks/digits/drafts/new/") as connection:
        for _ in range(PROBE_AFTER_MIB):
            connection.sendall(CHUNK)
        # A draft may be 500 MiB: waitress spools this one to an anonymous temporary file.
        assert len(buffered_bodies() - before) == 1


def test_a_chunked_body_is_cut_off_once_it_passes_the_cap_of_its_url(server):
    before = buffered_bodies()
    with socket.create_connection(("127.0.0.1", server), timeout=30) as connection:
        connection.sendall(
            b"POST /api/v1/submissions/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\n\r\n"
        )
        framed = b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n"
        try:
            for _ in range(BODY_MIB):
                connection.sendall(framed)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading once the body passed the cap
        status, _, body = read_response(connection)
    # waitress refuses it itself, in plain text: the application never sees a body it did not finish.
    assert status == 413
    assert b"Request Entity Too Large" in body and b"this URL takes" in body
    assert buffered_bodies() <= before
