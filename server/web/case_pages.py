"""差评 case pages: the list, and one case with its steps and a form for the next step."""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for

from ..cases import CALLBACK_ANSWERS, CALLBACK_CONTACTS, CASE_ACTIONS, CASE_STATES, case_view
from ..csrf import check_csrf
from ..errors import HallqError
from ..users import list_users
from .access import chinese, login_required

bp = Blueprint("case_pages", __name__)


def _book():
    return current_app.config["CASES"]


@bp.get("/cases")
@login_required("supervisor", "admin")
def index():
    state = request.args.get("state", "unfinished")
    store = _book().store
    if state == "all":
        rows = store.rows("SELECT * FROM cases ORDER BY id DESC LIMIT 500")
    elif state in CASE_STATES:
        rows = store.rows("SELECT * FROM cases WHERE state = ? ORDER BY id DESC LIMIT 500", [state])
    else:
        state = "unfinished"
        rows = store.rows("SELECT * FROM cases WHERE state != 'closed' ORDER BY id DESC")
    cases = [case_view(current_app.config["HALL"], r) for r in rows]
    return render_template("cases.html", cases=cases, state=state, states=CASE_STATES)


@bp.route("/cases/<int:case_id>", methods=["GET", "POST"])
@login_required("supervisor", "admin")
def show(case_id: int):
    error = None
    full_phone = None
    if request.method == "POST" and request.form.get("action") == "reveal-phone":
        check_csrf()
        full_phone = _book().reveal_phone(case_id, f"web:{g.user.username}")
    elif request.method == "POST":
        check_csrf()
        try:
            action = request.form.get("action", "")
            callback = action == "call-back"  # the answer fields belong to the call-back only
            _book().act(case_id, action, f"web:{g.user.username}", request.form.get("note"),
                        owner=request.form.get("owner") or None,
                        contact=(request.form.get("contact") or None) if callback else None,
                        answer=(request.form.get("answer") or None) if callback else None)
            return redirect(url_for("case_pages.show", case_id=case_id))
        except HallqError as exc:
            error = chinese(exc)
    case = case_view(current_app.config["HALL"], _book().get(case_id), _book().steps(case_id))
    owners = [u.username for u in list_users(_book().store) if u.role in ("supervisor", "admin") and u.active]
    return render_template("case.html", case=case, actions={a: CASE_ACTIONS[a][2] for a in case["actions"]},
                           owners=owners, error=error, states=CASE_STATES, full_phone=full_phone,
                           contacts=CALLBACK_CONTACTS, answers=CALLBACK_ANSWERS), (422 if error else 200)
