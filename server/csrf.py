"""CSRF protection for requests authenticated by the session cookie.

A browser sends the session cookie with any request to the hall, including one a hostile page makes,
so every state-changing request that relies on the cookie must also carry the per-session secret:
as the `csrf_token` form field (HTML forms) or the `X-CSRF-Token` header (the pages' fetch calls).
Requests with a bearer token carry no cookie authority and need no CSRF token.
"""

from __future__ import annotations

import hmac
import secrets

from flask import request, session

from .errors import HallqError

UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
HEADER = "X-CSRF-Token"
FIELD = "csrf_token"


class CsrfRefused(HallqError):
    status = 400
    code = "csrf"


def csrf_token() -> str:
    """This session's token, made on first use (templates call it for forms and the page header)."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Refuse an unsafe request whose token is missing or does not match this session's."""
    if request.method not in UNSAFE_METHODS:
        return
    expected = session.get("csrf")
    presented = request.headers.get(HEADER) or request.form.get(FIELD) or ""
    if not expected or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise CsrfRefused("the form's security token is missing or out of date; reload the page and try again",
                          field=FIELD)
