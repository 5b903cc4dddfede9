"""Request deadlines: a write is applied only while its client still waits for the answer.

A client says how long it will wait (`Request-Timeout-Ms`, a relative budget, so the clocks of
the kiosk and the server need not agree); the server turns it into a point on its own monotonic
clock when the request arrives. Whatever waits on the client's behalf — the admission queue, the
engine's lock, the store's write lock — waits no longer than that, and an action that has not
started by then answers `Expired` instead of running late (no ghost tickets, no ghost calls).

The deadline travels in a context variable, so the engine needs no transport to respect it.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import Expired, Invalid

HEADER = "Request-Timeout-Ms"
DEFAULT_WRITE_SECONDS = 10.0  # a write without a budget still never applies later than this
MAX_SECONDS = 60.0

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("hallq_deadline", default=None)


def parse(value: str | None, received: float, default: float | None = DEFAULT_WRITE_SECONDS) -> float | None:
    """The monotonic deadline of a request received at `received` whose header says `value`."""
    if value is None or not value.strip():
        return None if default is None else received + default
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 9:  # '²'.isdigit() is True
        raise Invalid(f"{HEADER} must be a whole number of milliseconds", field=HEADER)
    ms = int(text)
    if not 1 <= ms <= MAX_SECONDS * 1000:
        raise Invalid(f"{HEADER} must be 1–{int(MAX_SECONDS * 1000)} milliseconds", field=HEADER)
    return received + ms / 1000.0


def set_deadline(deadline: float | None) -> contextvars.Token:
    return _deadline.set(deadline)


def reset(token: contextvars.Token) -> None:
    _deadline.reset(token)


def current() -> float | None:
    """The current request's monotonic deadline, or None."""
    return _deadline.get()


def remaining() -> float | None:
    """Seconds left before the current request's deadline; None when it has none."""
    d = _deadline.get()
    return None if d is None else d - time.monotonic()


def check(what: str = "the request") -> None:
    """Raise `Expired` when the current deadline has passed."""
    left = remaining()
    if left is not None and left <= 0:
        raise Expired(f"{what} was not applied: its deadline passed before the hall could apply it",
                      field=HEADER)


@contextmanager
def holding(lock: threading.Lock | threading.RLock, what: str = "the request") -> Iterator[None]:
    """Hold `lock`, waiting for it no longer than the current deadline; then check it again."""
    left = remaining()
    if left is None:
        lock.acquire()
    elif left <= 0 or not lock.acquire(timeout=left):
        raise Expired(f"{what} was not applied: the hall was busy until its deadline passed", field=HEADER)
    try:
        check(what)
        yield
    finally:
        lock.release()
