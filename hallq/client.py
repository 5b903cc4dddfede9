"""A small client for the hallq HTTP API, shared by the caller daemon, the kiosk, the display and the demo.

Standard library only (urllib), so a window PC needs nothing extra to talk to the server. Refusals
raise `ApiError` with the server's JSON; a server that cannot be reached raises `Unreachable`, which
clients treat as "offline" — they never queue actions to apply later.

Every write carries an `Idempotency-Key` (new per call unless the caller passes the key of the
action it retries) and a `Request-Timeout-Ms` a little shorter than the client's own timeout, so
the server gives up on a write before the client does and never applies it after the client was
told it failed.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

ANSWER_MARGIN = 0.5  # seconds kept back for the answer's way back (at most a fifth of the timeout)
MAX_BUDGET_MS = 60_000  # the longest Request-Timeout-Ms a server takes


def new_key() -> str:
    """A fresh idempotency key: one per logical action, reused only by retries of that action."""
    return uuid.uuid4().hex


class Unreachable(Exception):
    """The server did not answer (down, network cut, timed out)."""


class ApiError(Exception):
    """The server answered with a 4xx/5xx; `body` is its JSON error (error, message, field)."""

    def __init__(self, status: int, body: dict) -> None:
        super().__init__(f"{status} {body.get('error')}: {body.get('message')}")
        self.status = status
        self.body = body

    @property
    def code(self) -> str:
        return str(self.body.get("error", ""))


class ApiClient:
    def __init__(self, base_url: str, token: str | None = None, timeout: float = 5.0) -> None:
        self.base = base_url.rstrip("/")
        if not self.base.endswith("/api/v1"):
            self.base += "/api/v1"
        self.token = token
        self.timeout = timeout

    def _request(self, method: str, path: str, body: dict | None = None,
                 headers: dict | None = None) -> urllib.request.Request:
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        return req

    def budget_ms(self) -> int:
        """What a write tells the server it may take: the timeout less the answer's way back."""
        margin = min(ANSWER_MARGIN, self.timeout / 5)
        return max(1, min(MAX_BUDGET_MS, int((self.timeout - margin) * 1000)))

    def call(self, method: str, path: str, body: dict | None = None, idempotency_key: str | None = None) -> Any:
        headers = None
        if method != "GET":
            headers = {"Idempotency-Key": idempotency_key or new_key(), "Request-Timeout-Ms": str(self.budget_ms())}
        req = self._request(method, path, body, headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                payload = json.loads(exc.read() or b"{}")
            except ValueError:
                payload = {"error": "http_error", "message": exc.reason}
            raise ApiError(exc.code, payload) from None
        except (TimeoutError, urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            # HTTPException: the server died mid-answer (IncompleteRead, RemoteDisconnected).
            raise Unreachable(str(exc) or type(exc).__name__) from None

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: dict | None = None, idempotency_key: str | None = None) -> Any:
        """POST; pass the key of the first try when retrying the same action."""
        return self.call("POST", path, body if body is not None else {}, idempotency_key)

    def window(self, number: int, action: str, idempotency_key: str | None = None, **body: Any) -> dict:
        return self.post(f"/windows/{number}/{action}", {k: v for k, v in body.items() if v is not None},
                         idempotency_key)

    def events(self, last_id: int | None = None, retry_seconds: float = 2.0,
               stop: Any = None) -> Iterator[dict]:
        """Follow the event stream forever, reconnecting with Last-Event-ID; yields decoded events.

        Yields {"type": "_connected"} after every (re)connection and {"type": "_disconnected"} when
        the server goes away, so a client can resync and show that it is offline. `stop` is an
        optional threading.Event that ends the loop.
        """
        while stop is None or not stop.is_set():
            pause = retry_seconds
            headers = {"Accept": "text/event-stream"}
            if last_id is not None:
                headers["Last-Event-ID"] = str(last_id)
            req = self._request("GET", "/events", headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=15) as resp:  # the server beats every 5 s
                    yield {"type": "_connected"}
                    data_lines: list[str] = []
                    for raw in resp:
                        if stop is not None and stop.is_set():
                            return
                        line = raw.decode("utf-8").rstrip("\r\n")
                        if line.startswith("data:"):
                            data_lines.append(line[5:].lstrip())
                        elif not line and data_lines:
                            event = json.loads("\n".join(data_lines))
                            data_lines = []
                            last_id = event.get("id", last_id)
                            yield event
            except urllib.error.HTTPError as exc:
                if exc.code in (401, 403):
                    raise ApiError(exc.code, json.loads(exc.read() or b"{}")) from None
                if exc.code == 503:  # at its stream capacity: come back when the server says
                    pause = max(retry_seconds, _seconds(exc.headers.get("Retry-After")))
            except (TimeoutError, urllib.error.URLError, OSError, ValueError, http.client.HTTPException):
                pass
            yield {"type": "_disconnected"}
            if stop is not None:
                if stop.wait(pause):
                    return
            else:
                time.sleep(pause)


def _seconds(value: str | None) -> float:
    try:
        return min(float(value or 0), 300.0)
    except ValueError:
        return 0.0
