"""Reading JSON request bodies strictly: unknown fields and wrong types are refused by name."""

from __future__ import annotations

from typing import Any

from flask import request

from ..errors import Invalid
from .inputs import BadRequest, is_text

__all__ = ["BadRequest", "json_body"]


def json_body(allowed: dict[str, type | tuple[type, ...]], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The request's JSON object, checked against `allowed` field types; empty body = {}. Text that is
    not Unicode (a lone surrogate escape) is refused before anything repeats it or stores it."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        data: Any = {}
    else:
        if not request.is_json:
            raise BadRequest("send the body as JSON (Content-Type: application/json)", field="Content-Type")
        try:
            data = request.get_json(silent=True)
        except RecursionError:  # nesting deeper than the parser's stack: not a body any call takes
            data = None
        if data is None:
            raise BadRequest("the body is not valid JSON", field="body")
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", field="body")
    for key, value in data.items():
        if not is_text(key):
            raise BadRequest("a field name is not valid Unicode text (unpaired surrogate)", field="body")
        if isinstance(value, str) and not is_text(value):  # nested values are refused by type below
            raise BadRequest(f"{key} is not valid Unicode text (unpaired surrogate)", field=key)
    for key, value in data.items():
        if key not in allowed:
            raise Invalid(f"unknown field {key!r}", field=key)
        types = allowed[key] if isinstance(allowed[key], tuple) else (allowed[key],)
        if value is not None and (not isinstance(value, types) or (isinstance(value, bool) and bool not in types)):
            names = " or ".join(t.__name__ for t in types)
            raise Invalid(f"{key} must be {names}", field=key)
    for key in required:
        if data.get(key) is None:
            raise Invalid(f"{key} is required", field=key)
    return data
