"""The Flask application factory: configuration passed in, nothing global."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from hallq.model import HallConfig

from .api import alerts, cases, events, inputs, ratings, reports, status, tickets, windows
from .api.events import Broker
from .cases import CaseBook
from .clock import Clock
from .commitments import Commitments
from .engine import Engine
from .errors import HallqError, Unavailable
from .reports import start_refresh
from .signin_guard import SignInGuard
from .store import Changes, Store
from .supervision import AlertBoard, Checker
from .web import register_pages
from .web.access import chinese

API = "/api/v1"
MAX_BODY_BYTES = 64 * 1024  # the largest call (a note, a rating comment) is a few kilobytes


def create_app(config: HallConfig, db_path: str | Path, clock: Clock | None = None,
               engine: Engine | None = None, supervise: bool = True,
               supervision_seconds: float = 10.0, secure_cookies: bool = False) -> Flask:
    """Build the app for one hall. Pass `engine` to share one with another front end (the demo).
    `supervise=False` leaves out the background work: the 电子监察 thread (tests run
    `supervision.check_once` themselves) and the start-up refresh of the report facts (reports
    refresh them anyway before they read). `secure_cookies`: the session cookie only over HTTPS
    (when a TLS proxy is in front)."""
    app = Flask(__name__, static_folder=None)  # pages serve their own assets (server/web/static)
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    if engine is None:
        engine = Engine(config, Store(db_path), clock)
    store = engine.store
    app.secret_key = _secret_key(store)
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
    app.config.update(HALL=config, ENGINE=engine, BROKER=Broker(store), CASES=case_book,
                      COMMITMENTS=commitments, ALERTS=board, CHECKER=None, SIGNIN_GUARD=SignInGuard())
    for bp in (tickets.bp, windows.bp, ratings.bp, events.bp, status.bp, cases.bp, alerts.bp, reports.bp):
        app.register_blueprint(bp, url_prefix=API)
    register_pages(app)
    app.url_value_preprocessor(inputs.check_path)  # before any view, API or page, sees a path value
    app.before_request(inputs.check_query)
    if supervise:
        app.config["CHECKER"] = Checker(engine, board, supervision_seconds).start()
        start_refresh(store)  # report facts for history written before schema v3, off the request path

    @app.errorhandler(HallqError)
    def refused(exc: HallqError):
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))} if isinstance(exc, Unavailable) else {}
        if request.path.startswith(API):
            return jsonify(exc.to_json()), exc.status, headers
        return render_template("error.html", status=exc.status, message=chinese(exc), detail=exc.message), exc.status, headers

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if request.path.startswith(API):
            body = {"error": exc.name.lower().replace(" ", "_"), "message": exc.description}
            if exc.code == 413:
                body["field"] = "body"
            # Keep what the exception says besides its HTML body, above all a 405's Allow (RFC 9110).
            headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
            return jsonify(body), exc.code, headers
        return exc

    return app


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
    """Stop the background work: the supervision thread and the event streams."""
    checker = app.config.get("CHECKER")
    if checker is not None:
        checker.stop()
    app.config["BROKER"].close()
