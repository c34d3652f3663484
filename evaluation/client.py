"""A small HTTP client for the Touchstone API (standard library only)."""

from __future__ import annotations

import http.client
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from evaluation.backoff import Backoff, retry_transient
from evaluation.client_errors import ClientError, TransientError
from evaluation.multipart import FileChangedError, MultipartBody

__all__ = ["ClientError", "JSONObject", "TouchstoneClient", "TransientError", "progress_bar"]

#: A JSON object as the API answers it; its fields are described by the API's schema
#: (``/api/v1/schema/``), which this client does not restate.
JSONObject = dict[str, Any]

_THROTTLE_RETRIES = 5
_MAX_THROTTLE_WAIT_SECONDS = 60.0
# Answers a proxy or a restarting server gives while the site itself may be fine.
_TRANSIENT_STATUSES = {500, 502, 503, 504}


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


def _say_on_stderr(message: str) -> None:
    print(message, file=sys.stderr)


class TouchstoneClient:
    """Talks to ``/api/v1/`` with token authentication.

    Polling (``wait``, ``wait_for_release``) survives transient failures (no connection, a
    timeout, a 5xx answer) by waiting as ``backoff`` says, telling ``say`` what it does.
    """

    def __init__(
        self,
        server: str,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        backoff: Backoff | None = None,
        say: Callable[[str], None] = _say_on_stderr,
    ) -> None:
        self.server = server.rstrip("/")
        self.base = self.server + "/api/v1/"
        self.token = token
        self.timeout = timeout
        self.backoff = backoff or Backoff()
        self.say = say

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
    ) -> JSONObject:
        # A read the site throttled (HTTP 429) is retried after the wait it names, a few times:
        # polling a long run must not abort because of the rate limit.
        for attempt in range(_THROTTLE_RETRIES + 1):
            try:
                return self._request_once(method, path, body=body, headers=headers or {})
            except _Throttled as throttled:
                if method != "GET" or attempt == _THROTTLE_RETRIES:
                    raise throttled.error from None
                time.sleep(throttled.wait_seconds)
        raise AssertionError("unreachable")

    def _open(self, request: urllib.request.Request, what: str) -> http.client.HTTPResponse:
        """Send ``request``; failures become a ``ClientError``, and a ``TransientError`` when they may pass."""
        try:
            response: http.client.HTTPResponse = urllib.request.urlopen(request, timeout=self.timeout)
            return response
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")
            try:
                detail = json.dumps(json.loads(detail))
            except ValueError:
                detail = detail[:200]
            failure = ClientError(f"{what} failed with HTTP {error.code}: {detail}")
            if error.code == 429:
                raise _Throttled(failure, error.headers.get("Retry-After")) from None
            if error.code in _TRANSIENT_STATUSES:
                raise TransientError(str(failure)) from None
            raise failure from None
        except urllib.error.URLError as error:
            raise TransientError(f"cannot reach {self.server}: {error.reason}") from None
        except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
            raise TransientError(
                f"{what}: the connection to {self.server} failed ({error or type(error).__name__})"
            ) from None

    def _request_once(
        self, method: str, path: str, *, body: bytes | Iterable[bytes] | None, headers: dict[str, str]
    ) -> JSONObject:
        request = urllib.request.Request(self.base + path, data=body, method=method)
        if self.token:
            request.add_header("Authorization", f"Token {self.token}")
        for name, value in headers.items():
            request.add_header(name, value)
        request.add_header("Accept", "application/json")
        what = f"{method} {self.base}{path}"
        try:
            with self._open(request, what) as response:
                text = response.read()
        except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
            raise TransientError(f"{what}: the answer was cut off ({error or type(error).__name__})") from None
        try:
            answer = json.loads(text or b"{}")
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise ClientError(
                f"{what} answered with something other than a JSON object; is {self.server} a Touchstone server?"
            )
        return answer

    def get(self, path: str) -> JSONObject:
        """``GET /api/v1/<path>`` as a JSON object."""
        return self._request("GET", path)

    def about(self) -> JSONObject:
        """The site's name, Touchstone version, evaluator version and upload limits (``GET about/``)."""
        return self._request("GET", "about/")

    def submit(self, *, benchmark: str, version: str, model_file: Path, model_name: str, **extra: str) -> JSONObject:
        """Upload ``model_file``, read from disk in chunks as it is sent."""
        fields = {"benchmark": benchmark, "version": version, "model_name": model_name}
        fields.update({key: value for key, value in extra.items() if value})
        body = MultipartBody(fields, {"model_file": Path(model_file)})
        headers = {"Content-Type": body.content_type, "Content-Length": str(len(body))}
        try:
            return self._request("POST", "submissions/", body=body, headers=headers)
        except FileChangedError as error:
            raise ClientError(f"{error}; upload it again once it is complete") from None

    def download(self, path: str, destination: Path, *, chunk_bytes: int = 1 << 20) -> None:
        """Write the file at ``path`` (under ``/api/v1/``) to ``destination``, in chunks."""
        what = f"GET {self.base}{path}"
        request = urllib.request.Request(self.base + path)
        try:
            with self._open(request, what) as response, open(destination, "wb") as handle:
                while chunk := response.read(chunk_bytes):
                    handle.write(chunk)
        except _Throttled as throttled:
            raise throttled.error from None
        except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
            raise TransientError(f"{what}: the download was cut off ({error or type(error).__name__})") from None

    def fetch_public_files(self, *, benchmark: str, version: str, folder: Path) -> JSONObject:
        """Write a version's ``benchmark.toml``, ``dev.npz`` and ``version.json`` into ``folder``.

        Returns the version as the API describes it. Nothing is checked here: ``evaluation.fetching``
        verifies the files against the published hashes before it keeps them.
        """
        base = f"benchmarks/{benchmark}/versions/{version}/"
        detail = self._request("GET", base)
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.download(base + "spec", folder / "benchmark.toml")
        self.download(base + "dev-split", folder / "dev.npz")
        identity = {
            "benchmark": benchmark,
            "version": version,
            "content_hash": detail["content_hash"],
            "file_hashes": detail["file_hashes"],
        }
        (folder / "version.json").write_text(json.dumps(identity, indent=2) + "\n", encoding="utf-8")
        return detail

    def submission(self, submission_id: int) -> JSONObject:
        return self._request("GET", f"submissions/{submission_id}/")

    def _poll(self, submission_id: int) -> JSONObject:
        return retry_transient(
            lambda: self.submission(submission_id),
            backoff=self.backoff,
            say=self.say,
            what=f"following submission {submission_id}",
        )

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
            state = self._poll(submission_id)
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
            state = self._poll(submission_id)
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
