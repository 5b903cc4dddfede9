"""A route's documentation, declared at the route once (in the style of apiflask / flask-openapi3).

    @bp.post("/alerts/<int:alert_id>/ack")
    @spec("A supervisor acknowledges an alert with a note", body=schemas.Note, answer=schemas.Alert,
          says="the alert", errors=(401, 403, 404, 422))
    @require("supervisor", "admin")
    def ack(alert_id: int): data = json_body() ...

`spec` only stores a `Spec` on the view function; `json_body()` reads the body model from it, and
server/openapi.py turns the routes of the API blueprints and their declarations into the document's
`paths`. Path parameters come from the route (an <int:…> is a row id, anything else a string);
app-wide refusals and the write headers are added there to every operation, not declared here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, request
from pydantic import BaseModel

from .inputs import SQLITE_INT_MAX

ROW_ID = {"type": "integer", "format": "int64", "minimum": 0, "maximum": SQLITE_INT_MAX}
ATTRIBUTE = "hallq_spec"

# (operation, hall config) -> None: fills in what depends on the hall (an enum from its config)
Hook = Callable[[dict, Any], None]


@dataclass(frozen=True)
class Variant:
    """One documented path per value of a path variable (/windows/{number}/{action}): its summary
    and body model."""

    summary: str
    body: type[BaseModel] | None = None


@dataclass(frozen=True)
class Spec:
    summary: str
    body: type[BaseModel] | None = None
    answer: type[BaseModel] | None = None
    says: str = ""
    status: int = 200
    also: Mapping[int, str] = field(default_factory=dict)
    content: Mapping[str, dict] | None = None
    errors: tuple[int, ...] = ()
    params: tuple[dict, ...] = ()
    path: Mapping[str, dict] = field(default_factory=dict)
    public: bool = False
    listed: bool = True
    variants: tuple[str, Mapping[str, Variant]] | None = None
    hook: Hook | None = None


def spec(summary: str, *, body: type[BaseModel] | None = None, answer: type[BaseModel] | None = None,
         says: str = "", status: int = 200, also: Mapping[int, str] | None = None,
         content: Mapping[str, dict] | None = None, errors: tuple[int, ...] = (), params: tuple[dict, ...] = (),
         path: Mapping[str, dict] | None = None, public: bool = False, listed: bool = True,
         variants: tuple[str, Mapping[str, Variant]] | None = None, hook: Hook | None = None) -> Callable:
    """Declare a route's documentation. `body`: the request model (json_body() checks against it; a
    model without fields documents no body); `answer`/`says`/`status`: the main answer, `also`:
    further statuses with the same answer model (status -> description); `content`: media types of
    an answer that is not a JSON model; `errors`: the refusals the view itself gives; `params`: query
    and header parameters (see `query`); `path`: schemas overriding a path variable's; `public`: no
    bearer token needed; `listed=False`: kept out of the document (the document itself);
    `variants`: (path variable, value -> Variant) documents one path per value; `hook`: adds what
    depends on the hall's configuration."""
    declared = Spec(summary, body, answer, says, status, dict(also or {}), content, tuple(errors), tuple(params),
                    dict(path or {}), public, listed, variants, hook)

    def declare(view: Callable) -> Callable:
        setattr(view, ATTRIBUTE, declared)
        return view

    return declare


def declared(view: Callable) -> Spec | None:
    """The declaration on a view function (also through functools.wraps, which copies it)."""
    return getattr(view, ATTRIBUTE, None)


def current_body_model() -> type[BaseModel] | None:
    """The body model the running request's route declared."""
    view = current_app.view_functions.get(request.endpoint or "")
    found = declared(view) if view is not None else None
    return found.body if found is not None else None


def query(name: str, kind: str = "string", enum: list[str] | tuple[str, ...] | None = None,
          required: bool = False) -> dict:
    """A query parameter."""
    schema: dict = {"type": kind}
    if enum:
        schema["enum"] = list(enum)
    param = {"name": name, "in": "query", "schema": schema}
    if required:
        param["required"] = True
    return param
