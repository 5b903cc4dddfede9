"""Running the county app on uvicorn (through a2wsgi's WSGI bridge, with a thread per request).

The hall's own front (server/front.py) is built around one hall's engine and event streams; the
county serves short JSON requests, which a WSGI bridge does plainly."""

from __future__ import annotations

import logging
import socket
import threading

import uvicorn
from a2wsgi import WSGIMiddleware
from flask import Flask

from server.protocol import HallProtocol
from server.serving import bind, run, run_until_stopped


def _config(app: Flask, threads: int) -> uvicorn.Config:
    # The hall's connection protocol: head and body timeouts, one send per answer.
    return uvicorn.Config(WSGIMiddleware(app, workers=threads), http=HallProtocol, loop="none", lifespan="off", ws="none",
                          access_log=False, log_level="warning", server_header=False,
                          timeout_keep_alive=30, timeout_graceful_shutdown=2)


def serve(db_url: str, host: str, port: int, threads: int = 8, config: str | None = None) -> int:
    from .app import create_app, stop_app
    from .settings import load_or_exit

    settings = load_or_exit(config)  # before anything listens: a bad county.toml starts nothing
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app(db_url, settings=settings)
    sock = bind(host, port)
    print(f"hallq county: serving on http://{host}:{sock.getsockname()[1]}/", flush=True)
    try:
        run_until_stopped(uvicorn.Server(_config(app, threads)).serve(sockets=[sock]))
    finally:
        stop_app(app)
    print("hallq county: stopped", flush=True)
    return 0


class BackgroundCounty:
    """The county app on uvicorn in a thread of this process (benchmarks, in-process tests)."""

    def __init__(self, app: Flask, port: int = 0, threads: int = 8) -> None:
        self.sock: socket.socket = bind("127.0.0.1", port)
        self.server = uvicorn.Server(_config(app, threads))
        self.thread = threading.Thread(target=lambda: run(self.server.serve(sockets=[self.sock])),
                                       name="county", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def start(self) -> BackgroundCounty:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
