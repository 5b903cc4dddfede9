"""The web pages: sign-in, the clerk's caller page, the supervisor board, 差评 cases, reports, the
read-only admin view, and the citizen's ticket page. Everything they load is served from here
(templates/, static/): halls run on closed networks, so no CDN, no web fonts."""

from __future__ import annotations

from flask import Flask

from ..csrf import csrf_token
from . import admin, appeal_pages, board, booking, case_pages, citizen, clerk, report_pages, signin
from .access import page_user


def register_pages(app: Flask) -> None:
    for module in (signin, clerk, board, case_pages, appeal_pages, report_pages, admin, citizen, booking):
        app.register_blueprint(module.bp)

    @app.context_processor
    def globals_for_templates() -> dict:
        return {"csrf_token": csrf_token, "user": page_user(), "hall": app.config["HALL"]}
