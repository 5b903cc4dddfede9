"""Input PostgreSQL cannot hold is refused at the county's door (400 naming the field), before any
route reads it.

Every county route stores or looks up what it is sent in PostgreSQL, which holds no NUL in text or
jsonb, no unpaired surrogate (it cannot even be encoded as UTF-8), no NaN or Infinity in jsonb and no
integer beyond 64 bits in a bigint. Python's parser lets all of these through, and they broke deep
inside a route as a 500 (found by the round-7 audit: ingest, catalogue status, referrals, the case
page's path). Nesting deeper than the parser's stack raised RecursionError, also a 500.
"""

from __future__ import annotations

import math
from typing import Any

from flask import request

from server.api.inputs import BadRequest, in_int_range, is_text

MAX_DEPTH = 64  # no county body nests deeper than a few levels (events[i].data.…)


def _storable(text: str) -> bool:
    return "\x00" not in text and is_text(text)


def _walk(value: Any, where: str, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise BadRequest(f"{where} nests deeper than {MAX_DEPTH} levels", field=where)
    if isinstance(value, str):
        if not _storable(value):
            raise BadRequest(f"{where} is not storable text (NUL or an unpaired surrogate)", field=where)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not in_int_range(value):
            raise BadRequest(f"{where} is outside the 64-bit integers", field=where)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise BadRequest(f"{where} is not a finite number", field=where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _walk(item, f"{where}[{i}]", depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not _storable(key):
                raise BadRequest(f"a field name in {where} is not storable text (NUL or an unpaired surrogate)",
                                 field=where)
            _walk(item, f"{where}.{key}" if where != "body" else key, depth + 1)


def check_request() -> None:
    """before_request: path values, query parameters, form fields and the JSON body hold only what
    PostgreSQL can store; the parsed body stays cached for the route's own checks."""
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and not _storable(value):
            raise BadRequest(f"{name} is not storable text (NUL or an unpaired surrogate)", field=name)
    sources = [request.args] if request.is_json else [request.args, request.form]
    for source in sources:
        for name, value in source.items(multi=True):
            if not _storable(name):
                raise BadRequest("a parameter name is not storable text", field="query")
            if not _storable(value):
                raise BadRequest(f"{name} is not storable text (NUL or an unpaired surrogate)", field=name)
    if request.is_json and request.content_length != 0:
        try:
            body = request.get_json(silent=True)
        except RecursionError:
            raise BadRequest(f"the body nests deeper than {MAX_DEPTH} levels", field="body") from None
        _walk(body, "body")
