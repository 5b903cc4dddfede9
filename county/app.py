"""The county server's Flask application factory: the database URL passed in, nothing global."""

from __future__ import annotations

import logging
import secrets

import psycopg
from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from server.clock import Clock, SystemClock
from server.errors import HallqError
from server.json_provider import FastJSONProvider

from . import api, inputs, web
from .db import Database
from .partitions import Partitions
from .settings import CountySettings

log = logging.getLogger(__name__)

API = "/api/v1"
MAX_BODY_BYTES = 8 * 1024 * 1024  # a batch of 5,000 events


def create_app(db_url: str, migrate: bool = True, settings: CountySettings | None = None,
               clock: Clock | None = None) -> Flask:
    """Build the county app over the PostgreSQL at `db_url` (migrated first unless told not to), with
    its settings (county.toml; default: the defaults) and the clock its "today" comes from (default:
    the wall clock; a test pins it)."""
    settings = settings or CountySettings()
    app = Flask(__name__, static_folder=None)
    app.json = FastJSONProvider(app)
    db = Database(db_url)
    if migrate:
        db.migrate()
    # CSRF_SECRET only keys the per-session CSRF HMAC: a restart asks open pages to reload, no more.
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, DB=db, PARTITIONS=Partitions(db_url),
                      CSRF_SECRET=secrets.token_bytes(32), SETTINGS=settings,
                      CLOCK=clock or SystemClock(settings.tz))
    app.before_request(inputs.check_request)
    app.register_blueprint(api.bp, url_prefix=API)
    app.register_blueprint(web.bp)

    @app.errorhandler(HallqError)
    def refused(exc: HallqError):
        return jsonify(exc.to_json()), exc.status

    @app.errorhandler(psycopg.OperationalError)
    def database_down(exc: psycopg.OperationalError):
        """PostgreSQL unreachable or restarting: nothing was applied; the hall keeps its events and
        sends them again after Retry-After."""
        log.warning("%s %s: database unavailable: %s", request.method, request.path, str(exc).strip())
        body = {"error": "database_unavailable", "message": "the county database does not answer; nothing was applied"}
        return jsonify(body), 503, {"Retry-After": "2"}

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        body = {"error": exc.name.lower().replace(" ", "_"), "message": exc.description}
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        return jsonify(body), exc.code, headers

    return app


def stop_app(app: Flask) -> None:
    app.config["DB"].close()
