"""The Flask application factory: configuration passed in, nothing global."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from hallq.model import HallConfig

from .api import events, ratings, status, tickets, windows
from .api.events import Broker
from .clock import Clock
from .engine import Engine
from .errors import HallqError
from .store import Store

API = "/api/v1"


def create_app(config: HallConfig, db_path: str | Path, clock: Clock | None = None,
               engine: Engine | None = None) -> Flask:
    """Build the app for one hall. Pass `engine` to share one with another front end (the demo)."""
    app = Flask(__name__)
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    if engine is None:
        engine = Engine(config, Store(db_path), clock)
    app.config.update(HALL=config, ENGINE=engine, BROKER=Broker(engine.store))
    for bp in (tickets.bp, windows.bp, ratings.bp, events.bp, status.bp):
        app.register_blueprint(bp, url_prefix=API)

    @app.errorhandler(HallqError)
    def refused(exc: HallqError):
        return jsonify(exc.to_json()), exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if request.path.startswith(API):
            return jsonify({"error": exc.name.lower().replace(" ", "_"), "message": exc.description}), exc.code
        return exc

    return app
