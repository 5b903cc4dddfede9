"""The supervisor board: every window, the waiting per service, today's figures, open alerts and
差评 cases, kept live by the event stream (the page re-reads the JSON views on each event)."""

from __future__ import annotations

from flask import Blueprint, render_template

from .access import login_required

bp = Blueprint("board", __name__)


@bp.get("/board")
@login_required("supervisor", "admin")
def show():
    return render_template("board.html")
