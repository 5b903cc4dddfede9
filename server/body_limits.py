"""How large a request body may be, by route: 64 KiB everywhere, a few MB for a display picture's
upload (POST /api/v1/config/media/<name>), the one route that takes a file.

The front (server/front.py) applies the limit before it reads a body and while reading it; Flask
applies the same one again (server/app.py request class), so a server without the front keeps it.
An upload is also *gated*: the front first asks the app, with no body, whether this caller may
upload here at all (an admin, with the page's CSRF token), and reads the body only after a yes —
an anonymous or clerk upload is refused without one byte of its body being read.
"""

from __future__ import annotations

import re

from .api.routes import API

MAX_BODY_BYTES = 64 * 1024  # every route but the upload
MEDIA_UPLOAD_BYTES = 8 * 1024 * 1024  # one display picture (a 4K PNG photo is 2–8 MB)
MEDIA_UPLOAD_SECONDS = 60.0  # such a body must arrive within this (64 KiB: server/front.py BODY_SECONDS)
_UPLOAD = re.compile(re.escape(API) + r"/config/media/[^/]+")
GATE = "hallq.gate"  # environ key: the app is asked whether the body may be read (no body yet)
GATE_OPEN = "x-hallq-gate-open"  # the app's answer header: yes, read it


def is_upload(method: str, path: str) -> bool:
    """A display picture's upload: the gated route with the larger limit."""
    return method == "POST" and _UPLOAD.fullmatch(path) is not None


def body_limit(method: str, path: str) -> int:
    """The most bytes a body of this request may have."""
    return MEDIA_UPLOAD_BYTES if is_upload(method, path) else MAX_BODY_BYTES
