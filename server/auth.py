"""Bearer tokens from the hall configuration: one per kiosk, window device, caller daemon, staff role.

Each token has a role; a `window` token may act only on its own window. Missing or unknown token:
401. Known token without the right: 403.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps

from flask import current_app, g, request

from hallq.model import Token

from .errors import HallqError

READ_ROLES = ("admin", "supervisor", "kiosk", "caller", "window", "display")
WINDOW_ROLES = ("admin", "supervisor", "caller", "window")


class Unauthorized(HallqError):
    status = 401
    code = "unauthorized"


class NoRight(HallqError):
    status = 403
    code = "forbidden"


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


def require(*roles: str) -> Callable:
    """Decorator: the request must carry a token of one of `roles`; a window token only for its window."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            token = current_token()
            if token is None:
                if request.headers.get("Authorization"):
                    raise Unauthorized("the bearer token is not valid for this hall", field="Authorization")
                raise Unauthorized("this call needs a bearer token (Authorization: Bearer …)", field="Authorization")
            if token.role not in roles:
                raise NoRight(f"a {token.role} token may not do this", field="Authorization")
            window = kwargs.get("number")
            if token.role == "window" and window is not None and token.window != window:
                raise NoRight(f"this token acts only for window {token.window}", field="window")
            g.token = token
            return view(*args, **kwargs)

        return wrapper

    return decorate


def actor() -> str:
    token = getattr(g, "token", None)
    return token.name if token else "public"
