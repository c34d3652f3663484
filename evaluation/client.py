"""A small HTTP client for the Touchstone API (standard library only)."""

from __future__ import annotations

import json
import mimetypes
import secrets
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

#: A JSON object as the API answers it; its fields are described by the API's schema
#: (``/api/v1/schema/``), which this client does not restate.
JSONObject = dict[str, Any]


class ClientError(Exception):
    """The server refused a request; the message is the server's explanation."""


_THROTTLE_RETRIES = 5
_MAX_THROTTLE_WAIT_SECONDS = 60.0


class _Throttled(Exception):
    """The site answered 429; carries the error to raise and how long to wait."""

    def __init__(self, error: ClientError, retry_after: str | None) -> None:
        super().__init__(str(error))
        self.error = error
        try:
            wait = float(retry_after) if retry_after is not None else 1.0
        except ValueError:
            wait = 1.0
        self.wait_seconds = min(max(wait, 0.1), _MAX_THROTTLE_WAIT_SECONDS)


def _encode_multipart(fields: dict[str, str], files: dict[str, Path]) -> tuple[bytes, str]:
    boundary = f"touchstone-{secrets.token_hex(12)}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, path in files.items():
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        parts.append(
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{path.name}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n"
            ).encode()
            + path.read_bytes()
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class TouchstoneClient:
    """Talks to ``/api/v1/`` with token authentication."""

    def __init__(self, server: str, token: str | None = None, *, timeout: float = 60.0) -> None:
        self.base = server.rstrip("/") + "/api/v1/"
        self.token = token
        self.timeout = timeout

    def _request(
        self, method: str, path: str, *, body: bytes | None = None, content_type: str | None = None
    ) -> JSONObject:
        # A read the site throttled (HTTP 429) is retried after the wait it names, a few times:
        # polling a long run must not abort because of the rate limit.
        for attempt in range(_THROTTLE_RETRIES + 1):
            try:
                return self._request_once(method, path, body=body, content_type=content_type)
            except _Throttled as throttled:
                if method != "GET" or attempt == _THROTTLE_RETRIES:
                    raise throttled.error from None
                time.sleep(throttled.wait_seconds)
        raise AssertionError("unreachable")

    def _request_once(self, method: str, path: str, *, body: bytes | None, content_type: str | None) -> JSONObject:
        request = urllib.request.Request(self.base + path, data=body, method=method)
        if self.token:
            request.add_header("Authorization", f"Token {self.token}")
        if content_type:
            request.add_header("Content-Type", content_type)
        request.add_header("Accept", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")
            try:
                detail = json.dumps(json.loads(detail))
            except ValueError:
                pass
            failure = ClientError(f"{method} {path} failed with HTTP {error.code}: {detail}")
            if error.code == 429:
                raise _Throttled(failure, error.headers.get("Retry-After")) from None
            raise failure from None
        except urllib.error.URLError as error:
            raise ClientError(f"cannot reach {self.base}: {error.reason}") from None
        if not isinstance(answer, dict):
            raise ClientError(
                f"{method} {path} answered with JSON that is not an object; is {self.base} a Touchstone server?"
            )
        return answer

    def submit(self, *, benchmark: str, version: str, model_file: Path, model_name: str, **extra: str) -> JSONObject:
        fields = {"benchmark": benchmark, "version": version, "model_name": model_name}
        fields.update({key: value for key, value in extra.items() if value})
        body, content_type = _encode_multipart(fields, {"model_file": Path(model_file)})
        return self._request("POST", "submissions/", body=body, content_type=content_type)

    def _download(self, path: str) -> bytes:
        request = urllib.request.Request(self.base + path)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                data: bytes = response.read()
                return data
        except urllib.error.HTTPError as error:
            raise ClientError(f"GET {path} failed with HTTP {error.code}") from None
        except urllib.error.URLError as error:
            raise ClientError(f"cannot reach {self.base}: {error.reason}") from None

    def fetch_public_files(self, *, benchmark: str, version: str, folder: Path) -> None:
        """Write a version's ``benchmark.toml``, ``dev.npz`` and ``version.json`` into ``folder``."""
        base = f"benchmarks/{benchmark}/versions/{version}/"
        detail = self._request("GET", base)
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "benchmark.toml").write_bytes(self._download(base + "spec"))
        (folder / "dev.npz").write_bytes(self._download(base + "dev-split"))
        identity = {
            "benchmark": benchmark,
            "version": version,
            "content_hash": detail["content_hash"],
            "file_hashes": detail["file_hashes"],
        }
        (folder / "version.json").write_text(json.dumps(identity, indent=2) + "\n", encoding="utf-8")

    def submission(self, submission_id: int) -> JSONObject:
        return self._request("GET", f"submissions/{submission_id}/")

    def wait(
        self,
        submission_id: int,
        *,
        poll_seconds: float = 0.5,
        timeout: float = 3600.0,
        on_update: Callable[[JSONObject], None] | None = None,
    ) -> JSONObject:
        """Poll until the submission is scored, failed or withdrawn."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.submission(submission_id)
            if on_update:
                on_update(state)
            if state["status"] in {"scored", "failed", "withdrawn"}:
                return state
            if time.monotonic() > deadline:
                raise ClientError(f"submission {submission_id} did not finish within {timeout:.0f} s")
            time.sleep(poll_seconds)

    def wait_for_release(self, submission_id: int, *, poll_seconds: float = 0.5, timeout: float = 120.0) -> JSONObject:
        """Poll a scored submission until its public scores (Ladder or final) are released."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.submission(submission_id)
            if state.get("ladder") or state.get("metrics") or time.monotonic() > deadline:
                return state
            time.sleep(poll_seconds)


def progress_bar(state: JSONObject, stream: IO[str] = sys.stderr, width: int = 30) -> None:
    """Draw ``[#####.....]  40% running: message`` on one terminal line."""
    fraction = float(state.get("progress") or 0.0)
    filled = round(fraction * width)
    message = state.get("progress_message") or ""
    stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%} {state['status']}: {message[:50]:<50}")
    stream.flush()
