"""Waitress in a background thread, stopped cleanly: for the demo and for tests that need a real
HTTP server on 127.0.0.1 beside other work in the same process."""

from __future__ import annotations

import threading

import waitress
from flask import Flask


class BackgroundServer:
    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 0, threads: int = 32) -> None:
        self.server = waitress.create_server(app, host=host, port=port, threads=threads, ident="hallq")
        self.thread = threading.Thread(target=self.server.run, name="waitress", daemon=True)

    @property
    def port(self) -> int:
        return self.server.effective_port

    def start(self) -> BackgroundServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        """Let the workers finish first (a finishing worker wakes the loop through the trigger, which
        must still be open), then close every channel from the loop's own thread, so its select()
        never sees a closed file descriptor; the port is free afterwards."""
        server = self.server

        def close_all() -> None:
            for channel in list(server._map.values()):
                channel.close()

        server.task_dispatcher.shutdown(timeout=2)
        try:
            server.trigger.pull_trigger(close_all)
            self.thread.join(5)
        except OSError:  # the trigger is gone already: close what is left from here
            close_all()
