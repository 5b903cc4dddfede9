"""Who is asking: a bearer token from the hall configuration (devices, daemons) or a signed-in web user.

Each token has a role; a `window` token may act only on its own window. Missing or unknown token:
401. Known token without the right: 403.

Web users (server/users.py) sign in with a password and are then known by the session cookie, which
carries the id of a server-side session (server/sessions.py) that sign-out and password changes end. They
map onto the same roles: admin -> admin, supervisor -> supervisor, clerk -> window, where a clerk's
window is the one their staff number is signed in to in the engine. So a clerk acts on their own
window only, and may sign in only to a free window (or their pinned one) under their own staff
number. Session-authenticated requests that change state must carry the CSRF token (server/csrf.py).
A bearer token, when present, wins over the session.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps

from flask import current_app, g, request, session

from hallq.model import Token

from .csrf import check_csrf
from .errors import Forbidden, Unauthorized
from .users import User

READ_ROLES = ("admin", "supervisor", "kiosk", "caller", "window", "display", "notifier")
WINDOW_ROLES = ("admin", "supervisor", "caller", "window")


def token_for(header: str | None, tokens: tuple[Token, ...]) -> Token | None:
    if not header or not header.startswith("Bearer "):
        return None
    presented = header[len("Bearer "):].strip().encode()
    found = None
    for t in tokens:
        # Compare against every token in constant time: no timing hint about which one is close.
        if hmac.compare_digest(presented, t.token.encode()):
            found = t
    return found


def current_token() -> Token | None:
    return token_for(request.headers.get("Authorization"), current_app.config["HALL"].tokens)


USER_TOKEN_ROLES = {"admin": "admin", "supervisor": "supervisor", "clerk": "window"}


def session_user() -> User | None:
    """The signed-in web user, if the cookie names a live server-side session (server/sessions.py:
    not signed out, not idle, no password change or disabling since). Its id is `g.session_id`."""
    if "session_user" not in g:
        sid = session.get("sid")
        user = current_app.config["SESSIONS"].user(sid) if sid else None
        g.session_user, g.session_id = user, (sid if user is not None else None)
    return g.session_user


def clerk_window(user: User) -> int | None:
    """The window where this clerk's staff number is signed in now."""
    engine = current_app.config["ENGINE"]
    return next((w.number for w in engine.window_states() if user.staff and w.staff == user.staff), None)


def may_use(user: User, window: int) -> bool:
    """A clerk may use their pinned window only; an unpinned clerk any window of the hall."""
    return window in current_app.config["ENGINE"].config.windows and user.window in (None, window)


def may_sign_in(user: User, window: int) -> bool:
    """A clerk may sign in to their pinned window, or, unpinned, to any window nobody else holds."""
    if not may_use(user, window):
        return False
    state = next(w for w in current_app.config["ENGINE"].window_states() if w.number == window)
    return state.staff in (None, user.staff)


def user_token(user: User, window: int | None = None) -> Token:
    """The token-shaped principal of a web user; for a clerk, bound to their window. Signing in is the
    one action a clerk takes on a window that is not yet theirs; the engine then refuses (409) a
    window someone else holds, or a clerk still signed in elsewhere (server/api/windows.py)."""
    bound = None
    if user.role == "clerk":
        bound = clerk_window(user)
        signing_in = request.view_args is not None and request.view_args.get("action") == "login"
        if window is not None and window != bound and signing_in and may_use(user, window):
            bound = window
    return Token(f"web:{user.username}", USER_TOKEN_ROLES[user.role], "", bound)


def require(*roles: str) -> Callable:
    """Decorator: the request must carry a token of one of `roles` (or come from a signed-in user of
    such a role); a window token or clerk only for its own window."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            token = current_token()
            if token is None and not request.headers.get("Authorization") and session_user() is not None:
                check_csrf()
                token = user_token(session_user(), kwargs.get("number"))
                g.user = session_user()
            if token is None:
                if request.headers.get("Authorization"):
                    raise Unauthorized("the bearer token is not valid for this hall", field="Authorization")
                raise Unauthorized("this call needs a bearer token (Authorization: Bearer …)", field="Authorization")
            if token.role not in roles:
                raise Forbidden(f"a {token.role} token may not do this", field="Authorization")
            window = kwargs.get("number")
            if token.role == "window" and window is not None and token.window != window:
                if token.window is None:
                    raise Forbidden("sign in to a window first; a clerk acts only on their own window", field="window")
                raise Forbidden(f"this token acts only for window {token.window}", field="window")
            g.token = token
            return view(*args, **kwargs)

        return wrapper

    return decorate


def citizen_only(what: str) -> None:
    """Refuse staff: a grade (好差评) is the citizen's alone, so a call that enters one from the ticket's
    page carries no bearer token and comes from no signed-in staff session (no steering, no rating
    on a citizen's behalf)."""
    if request.headers.get("Authorization"):
        raise Forbidden(f"{what} comes from the citizen, without a token; no staff or device token may enter one",
                        field="Authorization")
    if session_user() is not None:
        raise Forbidden(f"{what} comes from the citizen; a signed-in staff member may not enter one (sign out first)",
                        field="session")


def actor() -> str:
    token = getattr(g, "token", None)
    return token.name if token else "public"
