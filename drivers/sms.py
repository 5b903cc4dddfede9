"""What every SMS gateway adapter (CMPP, HTTP) offers its user: send a text to a phone and learn
whether it was taken; nothing about tickets."""

from __future__ import annotations

from typing import Protocol


class SendFailed(Exception):
    """The gateway did not take the message. `retry`: worth trying again later (the gateway is
    down, slow or throttling) rather than refused for good (a bad number, a rejected text)."""

    def __init__(self, reason: str, retry: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


class Gateway(Protocol):
    online: bool

    def send(self, phone: str, text: str, key: str | None = None) -> str:
        """Hand the text over; returns the gateway's message id (several ids joined by ',' for a
        long message). Raises SendFailed. `key`: the caller's name for this message; a retry with
        the same key sends only what the gateway has not taken yet (a long message whose later
        segments failed gets those, not a second copy of the first)."""
        ...

    def close(self) -> None:
        ...
