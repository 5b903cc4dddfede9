"""申诉复核 for the reviewer: appeals waiting for a decision, each with the rating and the window's
evidence, and the decision form (the same identity checks as the API: server/appeals.py)."""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for

from ..appeals import APPEAL_STATES, appeal_view
from ..auth import clerk_window
from ..csrf import check_csrf
from ..errors import HallqError, Invalid
from .access import chinese, login_required

bp = Blueprint("appeal_pages", __name__)


@bp.route("/appeals", methods=["GET", "POST"])
@login_required("supervisor", "admin")
def index():
    book, error = current_app.config["APPEALS"], None
    if request.method == "POST":
        check_csrf()
        try:
            verdict = request.form.get("verdict")
            if verdict not in ("uphold", "reject"):
                raise Invalid("the verdict is uphold or reject", field="verdict")
            note = (request.form.get("note") or "").strip()
            if not note:
                raise Invalid("a decision needs a note (what the review found)", field="note")
            user = g.user
            book.decide(int(request.form.get("appeal", "0") or 0), verdict == "uphold", note,
                        f"web:{user.username}", staff=user.staff, pinned_window=user.window,
                        signed_in_window=clerk_window(user) if user.staff else None)
            return redirect(url_for("appeal_pages.index"))
        except HallqError as exc:
            error = chinese(exc)
    state = request.args.get("state", "filed")
    state = state if state in APPEAL_STATES or state == "all" else "filed"
    store = book.store
    appeals = []
    for a in book.list(None if state == "all" else state):
        rating = store.rows("SELECT * FROM ratings WHERE id = ?", [a["rating_id"]])
        appeals.append(appeal_view(a, rating[0] if rating else None))
    return render_template("appeals.html", appeals=appeals, state=state, states=APPEAL_STATES,
                           error=error), (422 if error else 200)
