"""Sign-in and sign-out for people (users table); every POST here carries the CSRF token."""

from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from ..auth import session_user
from ..csrf import check_csrf
from ..users import authenticate
from .access import HOME

bp = Blueprint("signin", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")


def _safe_next(target: str | None) -> str | None:
    """Only paths on this server, so the sign-in page cannot bounce a user to another site."""
    if not target:
        return None
    parts = urlparse(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.get("/")
def home():
    user = session_user()
    if user is None:
        return redirect(url_for("signin.login"))
    return redirect(url_for(HOME[user.role]))


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        check_csrf()
        user = authenticate(current_app.config["ENGINE"].store, request.form.get("username", "").strip(),
                            request.form.get("password", ""))
        if user is None:
            error = "用户名或密码不正确"
        else:
            session.clear()  # a new session (and CSRF token) for the signed-in user
            session["user"] = user.username
            session.permanent = True
            return redirect(_safe_next(request.form.get("next")) or url_for(HOME[user.role]))
    return render_template("login.html", error=error, next=_safe_next(request.args.get("next")) or ""), (
        401 if error else 200)


@bp.post("/logout")
def logout():
    check_csrf()
    session.clear()
    return redirect(url_for("signin.login"))
