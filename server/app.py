"""The Flask application factory: configuration passed in, nothing global."""

from __future__ import annotations

import logging
import secrets
import sqlite3
from datetime import timedelta
from pathlib import Path

from flask import Flask, Request, jsonify, render_template, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException

from hallq.model import HallConfig

from . import body_limits
from .api import inputs, requests, routes
from .api.routes import API
from .appeals import AppealBook
from .cases import CaseBook
from .clock import Clock
from .commitments import Commitments
from .config_versions import ConfigBook
from .engine import Engine
from .errors import HallqError
from .idkeys import IdKeys
from .json_provider import FastJSONProvider
from .lookup_limit import LookupLimit
from .reports import start_refresh
from .requestlog import RequestLog
from .sessions import SessionBook
from .signin_guard import SignInGuard
from .storage_faults import Fault
from .store import DEFAULT_WRITE_TIMEOUT, Changes, Store
from .supervision import AlertBoard, Checker
from .web import citizen as citizen_pages
from .web import register_pages
from .web.access import CHINESE, chinese

log = logging.getLogger(__name__)

MAX_BODY_BYTES = body_limits.MAX_BODY_BYTES  # also enforced by the front before reading (server/front.py)


class _Request(Request):
    """Flask's request, with the body limit of its route (server/body_limits.py): 64 KiB, or a few MB
    for a display picture's upload."""

    @property
    def max_content_length(self) -> int:
        return body_limits.body_limit(self.method, self.path)


class _CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, but a request without the session cookie (every kiosk, caller
    and display call) gets its new empty session without building the signing serializer first."""

    def open_session(self, app: Flask, request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def create_app(config: HallConfig, db_path: str | Path, clock: Clock | None = None,
               engine: Engine | None = None, supervise: bool = True,
               supervision_seconds: float = 10.0, secure_cookies: bool = False,
               write_timeout: float = DEFAULT_WRITE_TIMEOUT) -> Flask:
    """Build the app for one hall. Pass `engine` to share one with another front end (the demo).
    `supervise=False` leaves out the background work: the 电子监察 thread (tests run
    `supervision.check_once` themselves) and the start-up refresh of the report facts (reports
    refresh them anyway before they read). `secure_cookies`: the session cookie only over HTTPS
    (when a TLS proxy is in front). `write_timeout`: seconds a write waits for the database's write
    lock (held by another process) before it answers 503 storage_busy."""
    app = Flask(__name__, static_folder=None)  # pages serve their own assets (server/web/static)
    app.session_interface = _CookieSessions()
    app.request_class = _Request
    app.json = FastJSONProvider(app)
    if engine is None:
        engine = Engine(config, Store(db_path, write_timeout=write_timeout), clock)
    if str(db_path) != ":memory:":
        engine.id_keys = IdKeys.for_database(db_path)  # ID numbers are matched, never stored
    store = engine.store
    store.state.use_clock(engine.now)  # fault times, and /health's since, on the hall's clock
    app.secret_key = _secret_key(store)
    versions = ConfigBook(store, engine.now)
    config = _running(versions, config, engine)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_HTTPONLY=True,
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=12), SESSION_COOKIE_SECURE=secure_cookies)
    case_book = CaseBook(config, store, engine.now)
    commitments = Commitments(config, store, engine.now)
    store.subscribe(case_book.on_commit)
    store.subscribe(commitments.on_commit)
    case_book.catch_up()
    case_book.recompute_provisional()
    commitments.recompute_provisional()
    board = AlertBoard(store, engine.now)
    board.config_held(versions.held)  # a file edit held back at start-up, or the one that was has applied

    def storage_recovered(fault: Fault) -> None:
        """Writes work again: the supervisor learns what happened (the alert could not be written
        while it lasted), and cases and 承诺件 deadlines that failed to open are opened now."""
        board.storage_fault(fault)
        case_book.catch_up()
        commitments.catch_up(since=fault.since - timedelta(hours=1))  # what failed just before it, too

    store.on_recovered(storage_recovered)

    def reconfigured(new: HallConfig) -> None:
        """Under the engine's lock, right after it swapped: every other holder of the hall too."""
        app.config["HALL"] = new
        case_book.config = new
        commitments.config = new
        app.config["SESSIONS"].limits = new.sessions  # idle limits of web sign-ins

    app.config.update(HALL=config, ENGINE=engine, CASES=case_book, CONFIG_VERSIONS=versions, ON_RECONFIGURE=reconfigured,
                      COMMITMENTS=commitments, APPEALS=AppealBook(store, engine.now), ALERTS=board, CHECKER=None, SIGNIN_GUARD=SignInGuard(),
                      LOOKUP_LIMIT=LookupLimit(),
                      SESSIONS=SessionBook(store, config.sessions,
                                           app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()))
    requests.install(app, RequestLog(store, engine.id_keys))  # deadlines and idempotency keys for every write
    for bp in routes.blueprints():
        app.register_blueprint(bp, url_prefix=API)
    register_pages(app)
    app.url_value_preprocessor(inputs.check_path)  # before any view, API or page, sees a path value
    app.before_request(inputs.check_query)
    if supervise:
        app.config["CHECKER"] = Checker(engine, board, supervision_seconds).start()
        app.config["SESSIONS"].start()  # revalidates cached sign-ins, writes last-seen times
        start_refresh(store)  # report facts for history written before schema v3, off the request path

    @app.errorhandler(HallqError)
    def refused(exc: HallqError):
        retry_after = getattr(exc, "retry_after", None)  # Unavailable (503), TooMany (429)
        headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after is not None else {}
        if request.path.startswith(API):
            return jsonify(exc.to_json()), exc.status, headers
        return render_template("error.html", status=exc.status, message=chinese(exc), detail=exc.message), exc.status, headers

    @app.errorhandler(sqlite3.Error)
    def storage_fault(exc: sqlite3.Error):
        """A storage fault that reached here unmapped (a report's own connection, say): 503 all the
        same; anything else from SQLite is a bug and stays a 500."""
        err = store.fault(exc)
        if err is None:
            raise exc
        log.warning("%s %s: %s", request.method, request.path, err.message)
        return refused(err)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if request.path.startswith(API):
            body = {"error": exc.name.lower().replace(" ", "_"), "message": exc.description}
            if exc.code == 413:
                body["field"] = "body"
            # Keep what the exception says besides its HTML body, above all a 405's Allow (RFC 9110).
            headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
            return jsonify(body), exc.code, headers
        if exc.code == 404 and (request.path == "/t" or request.path.startswith("/t/")):
            return citizen_pages.missing_ticket()  # a cut-off QR link: the citizen's own page
        if exc.code == 404:
            return render_template("error.html", status=404, message=CHINESE["not_found"], detail=None), 404
        return exc

    return app


def _running(versions: ConfigBook, config: HallConfig, engine: Engine) -> HallConfig:
    """The file's hall if it changed since the last start, else the latest saved version."""
    running = versions.start(config, fits=engine.still_serves)
    if running is not config:
        try:
            engine.reconfigure(running, Changes(action=False))
        except HallqError as exc:
            log.warning("the saved configuration cannot run now (%s); running %s", exc.message, config.source)
            return engine.config
    return running


def _secret_key(store: Store) -> str:
    """The session-signing key, made once per database, so sign-ins survive a restart."""
    rows = store.rows("SELECT value FROM settings WHERE key = 'secret_key'")
    if rows:
        return rows[0]["value"]
    ch = Changes()
    key = secrets.token_hex(32)
    ch.put("settings", {"key": "secret_key", "value": key})
    store.commit(ch)
    return key


def stop_app(app: Flask) -> None:
    """Stop the background work: the supervision thread."""
    checker = app.config.get("CHECKER")
    if checker is not None:
        checker.stop()
    app.config["SESSIONS"].stop()
    app.config["ENGINE"].store.flush()  # answers kept for replay, written before the process goes
