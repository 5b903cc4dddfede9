"""Running the hall's HTTP front (server/front.py) on uvicorn: in the foreground for `hallq serve`,
or in a background thread for the demo and for tests that need a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import resource
import signal
import socket
import threading

import uvicorn
from flask import Flask

from .front import Front
from .protocol import HallProtocol

log = logging.getLogger(__name__)


def raise_file_limit() -> int:
    """Every stream is a socket: lift the soft limit on open files to the hard one (often 1,024 of
    a much higher ceiling); returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def run(coro) -> None:
    """Run the server's coroutine on uvloop when it is installed (a libuv loop: a thousand streams'
    writes cost a fraction of asyncio's pure-Python transports), else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        factory = None
    else:
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(coro)


def run_until_stopped(coro) -> None:
    """`run(coro)` in the foreground until SIGTERM or Ctrl-C. uvicorn shuts down gracefully on
    either and then raises the signal again for the handler it found: let that end the run quietly,
    with status 0, instead of a traceback or death by the signal."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        run(coro)
    except KeyboardInterrupt:
        pass


def uvicorn_config(front: Front, trusted_proxy: str | None = None, max_connections: int | None = None) -> uvicorn.Config:
    """The one uvicorn set-up. `trusted_proxy`: client address and scheme come from that proxy's
    X-Forwarded-For / X-Forwarded-Proto (so sign-in limits count real clients, not nginx)."""
    return uvicorn.Config(
        front, http=HallProtocol, loop="none",  # the loop is ours: run()
        lifespan="on", ws="none", access_log=False,
        log_level="warning", proxy_headers=trusted_proxy is not None,
        forwarded_allow_ips=trusted_proxy or "", server_header=False, date_header=True,
        limit_concurrency=max_connections, backlog=2048, timeout_keep_alive=30,
        timeout_graceful_shutdown=2,
    )


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit it: an answer's head and body go out at once instead of the body
    # waiting ~40 ms for the client's delayed ACK of the head (Nagle).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class BackgroundServer:
    """The front on uvicorn in a thread of this process; `stop()` ends streams and frees the port."""

    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 0, threads: int = 16,
                 max_streams: int = 2000, max_connections: int | None = None) -> None:
        raise_file_limit()
        self.front = Front(app, workers=threads, max_streams=max_streams)
        self.sock = bind(host, port)
        self.server = uvicorn.Server(uvicorn_config(self.front, max_connections=max_connections))
        self.thread = threading.Thread(target=self._run, name="uvicorn", daemon=True)

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def _run(self) -> None:
        run(self.server.serve(sockets=[self.sock]))

    def start(self) -> BackgroundServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.front.end_streams()  # first, or uvicorn would wait for them; its shutdown closes the rest
        self.server.should_exit = True
        self.thread.join(10)
        self.front.close()  # in case the loop ended without its lifespan shutdown
        self.sock.close()
