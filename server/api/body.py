"""Reading JSON request bodies strictly: unknown fields and wrong types are refused by name."""

from __future__ import annotations

from typing import Any

from flask import request
from pydantic import BaseModel, ValidationError

from ..errors import Invalid
from .inputs import BadRequest, is_text
from .spec import current_body_model

__all__ = ["BadRequest", "json_body"]


def json_body(model: type[BaseModel] | None = None) -> dict[str, Any]:
    """The request's JSON object, checked against `model` (server/api/schemas.py), by default the
    body its route declared with @spec (server/api/spec.py); empty body = {}. Returns the fields that were sent (null counts as not sent). Text that is not Unicode (a lone
    surrogate escape) is refused before anything repeats it or stores it."""
    if model is None:
        model = current_body_model()
        if model is None:
            raise TypeError(f"{request.endpoint} declares no body model (@spec(body=...))")
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
    try:
        model.model_validate(data)
    except ValidationError as exc:
        raise _refusal(exc.errors(include_url=False)[0], model) from None
    return {k: v for k, v in data.items() if v is not None}


_KINDS = {"string_type": "str", "int_type": "int", "bool_type": "bool", "float_type": "number",
          "dict_type": "an object", "model_type": "an object", "list_type": "an array"}


def _refusal(err: dict, model: type[BaseModel]) -> Invalid:
    """pydantic's first error -> 422 naming the field, in the words hallq's API always used."""
    loc = err["loc"]
    key = str(loc[0]) if loc else "body"
    kind = err["type"]
    if kind == "extra_forbidden":
        return Invalid(f"unknown field {key!r}", field=key)
    if kind == "missing" or (err.get("input") is None and len(loc) == 1):
        return Invalid(f"{key} is required", field=key)
    if kind in _KINDS and len(loc) == 1:
        return Invalid(f"{key} must be {_KINDS[kind]}", field=key)
    if kind == "literal_error":
        return Invalid(f"{key} must be one of {err['ctx']['expected']}", field=key)
    return Invalid(f"{key}: {err['msg']}", field=key)
