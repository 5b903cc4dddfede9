"""What every simulated line shares: an endpoint the driver opens, a reader thread, plug faults."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod

from drivers.sim.pty import Endpoint, PtyEndpoint


class SimLine(ABC):
    """A line whose device side reads what the host sends and answers in a thread of its own.

    Subclasses set up their state after `super().__init__()` and then call `self.start()`, so the
    reader never sees a half-built simulator.
    """

    def __init__(self, endpoint: Endpoint | None, name: str) -> None:
        self.endpoint = endpoint or PtyEndpoint(name)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"sim-{name}")

    def start(self) -> None:
        self._thread.start()

    @property
    def path(self) -> str:
        """What the driver opens: a pty path or a socket:// URL."""
        return self.endpoint.path

    @abstractmethod
    def _on_bytes(self, data: bytes) -> None:
        """Bytes the host sent (any chunking): parse and answer."""

    @abstractmethod
    def _forget_partial(self) -> None:
        """Drop half-received input: a replugged line starts clean."""

    def _run(self) -> None:
        while not self._stop.is_set():
            data = self.endpoint.read(0.05)
            if data:
                self._on_bytes(data)

    def unplug(self) -> None:
        self.endpoint.unplug()

    def replug(self) -> None:
        self._forget_partial()
        self.endpoint.replug()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(1.0)
        self.endpoint.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
