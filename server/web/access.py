"""Who may open a page: signed-in users by role; anyone else is sent to the sign-in page."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import g, redirect, request, url_for

from ..auth import session_user
from ..errors import Forbidden
from ..users import User

HOME = {"admin": "board.show", "supervisor": "board.show", "clerk": "clerk.show"}


def page_user() -> User | None:
    return session_user()


def login_required(*roles: str) -> Callable:
    """Decorator for pages: a signed-in user of one of `roles`, else sign-in (or 403 for a wrong role)."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = session_user()
            if user is None:
                return redirect(url_for("signin.login", next=request.full_path.rstrip("?")))
            if roles and user.role not in roles:
                raise Forbidden(f"{user.role_name}无权打开此页面", field="role")
            g.user = user
            return view(*args, **kwargs)

        return wrapper

    return decorate
