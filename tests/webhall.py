"""A small hall with web users, for the web, case, supervision and report tests."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from hallfactory import small_hall

from server.app import create_app
from server.clock import ManualClock
from server.users import add_user

TZ = ZoneInfo("Asia/Shanghai")
MONDAY_9AM = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
USERS = {  # username -> (password, role, staff)
    "admin": ("admin-pass", "admin", None),
    "sup": ("supervisor-pass", "supervisor", None),
    "clerk1": ("clerk1-pass", "clerk", "1001"),
    "clerk2": ("clerk2-pass", "clerk", "1002"),
}


def make_app(db_path, clock=None, all_day: bool = False, **kwargs):
    """The app over a fresh database with USERS added; no supervision thread."""
    config = small_hall(all_day=all_day)
    app = create_app(config, db_path, clock=clock if clock is not None else (None if all_day else ManualClock(MONDAY_9AM)),
                     supervise=False, **kwargs)
    store = app.config["ENGINE"].store
    for name, (password, role, staff) in USERS.items():
        add_user(store, config, name, password, role, staff=staff)
    app.config["TESTING"] = True
    return app


def page_csrf(client, path: str = "/login") -> str:
    """The CSRF token a page carries (form field or meta tag)."""
    text = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', text) or re.search(r'name="csrf-token" content="([^"]+)"', text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def sign_in(client, username: str) -> str:
    """Sign in through the form; returns the session's CSRF token for later posts."""
    token = page_csrf(client)
    response = client.post("/login", data={"username": username, "password": USERS[username][0], "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return page_csrf(client, "/clerk" if USERS[username][1] == "clerk" else "/board")


def serve_one(engine, window: int = 1, service: str = "S101", staff: str = "1001"):
    """Issue a ticket and serve it to the end at `window`; returns the ticket."""
    if not any(w.number == window and w.staff for w in engine.window_states()):
        engine.login(window, staff)
    t = engine.issue(service)
    result = engine.call(window, t.code)
    assert result["result"] == "accepted"
    engine.finish(window, "done")
    return t
