"""How large a request body may be, by route: 64 KiB everywhere, but on the admin's routes that
take a file or a whole hall — a display picture's upload (POST /api/v1/config/media/<name>, a few
MB) and the whole configuration (POST /api/v1/config and /config/import, 1 MiB: a city centre of
~95 windows is ~60 KB as JSON, more with long 一次告知 lists).

The front (server/front.py) applies the limit before it reads a body and while reading it; Flask
applies the same one again (server/app.py request class), so a server without the front keeps it.
Those routes are also *gated*: the front first asks the app, with no body, whether this caller may
send there at all (an admin, with the page's CSRF token), and reads the body only after a yes —
an anonymous or clerk request is refused without one byte of its body being read.
"""

from __future__ import annotations

import re

from .api.routes import API

MAX_BODY_BYTES = 64 * 1024  # every route but the gated ones
MEDIA_UPLOAD_BYTES = 8 * 1024 * 1024  # one display picture (a 4K PNG photo is 2–8 MB)
MEDIA_UPLOAD_SECONDS = 60.0  # such a body must arrive within this (64 KiB: server/front.py BODY_SECONDS)
CONFIG_BYTES = 1024 * 1024  # a whole hall, as JSON or TOML
CONFIG_SECONDS = 30.0
# POST routes with a larger body, read only after the gate said yes: (path, most bytes, seconds)
GATED = ((re.compile(re.escape(API) + r"/config/media/[^/]+"), MEDIA_UPLOAD_BYTES, MEDIA_UPLOAD_SECONDS),
         (re.compile(re.escape(API) + r"/config(/import)?"), CONFIG_BYTES, CONFIG_SECONDS))
GATE = "hallq.gate"  # environ key: the app is asked whether the body may be read (no body yet)
GATE_OPEN = "x-hallq-gate-open"  # the app's answer header: yes, read it


def gated(method: str, path: str) -> tuple[int, float] | None:
    """(most bytes, seconds to arrive in) for a gated route, else None."""
    if method == "POST":
        for pattern, most, seconds in GATED:
            if pattern.fullmatch(path):
                return most, seconds
    return None


def body_limit(method: str, path: str) -> int:
    """The most bytes a body of this request may have."""
    got = gated(method, path)
    return got[0] if got else MAX_BODY_BYTES
