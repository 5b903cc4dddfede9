"""The clerk's caller page: every keypad action from a browser, for windows without a keypad.

The page calls the same REST actions as a keypad (/api/v1/windows/<n>/<action>) with the session
and its CSRF token, so the rules are the API's: a clerk acts only on the window their staff number
is signed in to. Supervisors and admins may open any window with ?window=N.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, render_template, request

from .. import catalogue
from ..auth import clerk_window, may_sign_in
from ..errors import NotFound
from ..tickets import OUTCOMES, PAUSE_REASONS
from .access import login_required

bp = Blueprint("clerk", __name__)


@bp.get("/clerk")
@login_required("clerk", "supervisor", "admin")
def show():
    engine = current_app.config["ENGINE"]
    config = engine.config
    user = g.user
    if user.role == "clerk":
        window = clerk_window(user)
        free = [n for n in sorted(config.windows) if may_sign_in(user, n)]
    else:
        window = request.args.get("window", type=int)
        if window is not None and window not in config.windows:
            raise NotFound(f"没有{window}号窗口", field="window")
        free = sorted(config.windows)
    staff = config.staff.get(user.staff or "")
    running = catalogue.applied(engine.store)  # what a referral up the tree may name (帮办代办)
    return render_template(
        "clerk.html", window=window, free=free, windows=config.windows, services=config.services,
        outcomes=OUTCOMES, pause_reasons=PAUSE_REASONS, staff=staff,
        referable=list(running["matters"].values()) if running and config.county is not None else [],
    )
