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
    error, status = None, 200
    if request.method == "POST":
        check_csrf()
        guard = current_app.config["SIGNIN_GUARD"]
        username = request.form.get("username", "").strip()
        address = request.remote_addr or ""
        locked = guard.wait_minutes(username, address)
        user = None if locked else authenticate(current_app.config["ENGINE"].store, username,
                                                request.form.get("password", ""))
        if locked:
            error, status = f"登录失败次数过多，请 {locked} 分钟后再试", 429
            current_app.logger.warning("sign-in refused: %r from %s locked for %d min", username, address, locked)
        elif user is None:
            guard.failed(username, address)
            error, status = "用户名或密码不正确", 401
            current_app.logger.warning("failed sign-in: %r from %s", username, address)
        else:
            guard.succeeded(username)
            sessions = current_app.config["SESSIONS"]
            sessions.revoke(session.get("sid"), "signed_out")  # whoever was signed in on this browser
            session.clear()  # a new session (and CSRF token) for the signed-in user
            session["sid"] = sessions.open(user, address)
            session.permanent = True
            return redirect(_safe_next(request.form.get("next")) or url_for(HOME[user.role]))
    return render_template("login.html", error=error, next=_safe_next(request.args.get("next")) or ""), status


@bp.post("/logout")
def logout():
    """Sign out: the server-side session ends, so a copy of the cookie is worth nothing either."""
    check_csrf()
    current_app.config["SESSIONS"].revoke(session.get("sid"), "signed_out")
    session.clear()
    return redirect(url_for("signin.login"))
