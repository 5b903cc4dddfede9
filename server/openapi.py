"""The OpenAPI 3 description of /api/v1, generated from the routes and what each declares at itself.

`paths` comes from walking the url_map of a bare Flask app with the API blueprints registered: each
route's methods and path variables (an <int:…> is a row id), and its @spec declaration
(server/api/spec.py): summary, body, answer, statuses, parameters. A route without a declaration
cannot be documented: building the document fails naming it.

Every request body and the main answers are the pydantic models of server/api/schemas.py, turned
into OpenAPI 3.0 schemas here (`nullable` instead of null types, one `example`), so a body's fields,
types and bounds are written once for the check and for the document.

Answers every route can give come from app-wide rules and are added to every operation by
`_refusals`, so no route can answer a status its description lacks: 400 (a query parameter or body
that is not Unicode text, a body that is not JSON), 401/403 (any call with a token), 404 (a path
integer beyond SQLite's 64 bits), 413/422 (any body), 503 (deadline passed, overloaded, storage
failing; with Retry-After)."""

from __future__ import annotations

import copy
import re
from functools import cache

from flask import Blueprint, Flask
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from hallq.model import HallConfig

from .api import schemas
from .api.routes import API, blueprints
from .api.spec import ROW_ID, Spec, declared

ERROR = {"$ref": "#/components/responses/Error"}
BAD_REQUEST = {"$ref": "#/components/responses/BadRequest"}
UNAVAILABLE = {"$ref": "#/components/responses/Unavailable"}
BEARER = [{"bearer": []}]


class _OpenAPI30(GenerateJsonSchema):
    """JSON Schema as OpenAPI 3.0 reads it: an optional field is `nullable`, not a union with null."""

    def nullable_schema(self, schema):
        inner = self.generate_inner(schema["schema"])
        return {"allOf": [inner], "nullable": True} if "$ref" in inner else {**inner, "nullable": True}


_KEYWORDS = {"type", "properties", "required", "additionalProperties", "items", "enum", "default", "description",
             "minimum", "maximum", "exclusiveMinimum", "minLength", "maxLength", "minItems", "maxItems", "pattern",
             "format", "nullable", "allOf", "anyOf", "oneOf", "$ref", "$defs"}


def _openapi30(node):
    """What 3.0 spells differently from JSON Schema 2020-12, everywhere in a generated schema; hallq's
    own keywords (unit, means …) become extensions (x-unit)."""
    if isinstance(node, list):
        return [_openapi30(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k in ("title", "examples", "const"):
            continue
        if k in ("properties", "$defs") and isinstance(v, dict):
            out[k] = {name: _openapi30(sub) for name, sub in v.items()}
        else:
            out[k if k in _KEYWORDS else f"x-{k}"] = _openapi30(v)
    if "examples" in node:
        out["example"] = node["examples"][0]
    if "const" in node:
        out["enum"] = [node["const"]]
    if isinstance(node.get("exclusiveMinimum"), int | float) and not isinstance(node["exclusiveMinimum"], bool):
        out["minimum"], out["exclusiveMinimum"] = node["exclusiveMinimum"], True
    return out


def _components(models: list[type[BaseModel]]) -> dict:
    _, top = models_json_schema([(m, "validation") for m in models], ref_template="#/components/schemas/{model}",
                                schema_generator=_OpenAPI30)
    return {name: _openapi30(schema) for name, schema in top.get("$defs", {}).items()}


def _body(model: type[BaseModel]) -> dict:
    """A request body, its schema inline (as clients and tests read it)."""
    required = any(f.is_required() for f in model.model_fields.values())
    return {"required": required, "content": {"application/json": {"schema": _components([model])[model.__name__]}}}


def _errors(*codes: int) -> dict:
    return {str(c): BAD_REQUEST if c == 400 else ERROR for c in codes}


WRITE_HEADERS = [
    {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"},
     "description": "names the action: a retry with it gets the first answer (Idempotent-Replayed: true) and "
                    "applies nothing; scoped to the caller; the same key on another request is 409"},
    {"name": "Request-Timeout-Ms", "in": "header", "schema": {"type": "integer", "minimum": 1, "maximum": 60000},
     "description": "how long the client waits; past it the write is not applied and answers 503 expired "
                    "(default 10 s)"},
]


def _write_takes_key_and_deadline(op: dict) -> None:
    op["parameters"] = op.get("parameters", []) + WRITE_HEADERS
    op["responses"] = {**op["responses"], **_errors(400, 409, 422, 503)}


def _refusals(op: dict) -> None:
    """Add the answers app-wide rules give (see the module's docstring) to one operation."""
    codes = [400]
    if "security" in op:
        codes += [401, 403]
    if any(p["in"] == "path" and p["schema"]["type"] == "integer" for p in op.get("parameters", [])):
        codes.append(404)
    if "requestBody" in op:
        codes += [413, 422]
    for code in codes:
        op["responses"].setdefault(str(code), BAD_REQUEST if code == 400 else ERROR)
    op["responses"].setdefault("503", UNAVAILABLE)


_VARIABLE = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


@cache
def routes(api: tuple[Blueprint, ...]) -> tuple[tuple[str, str, str, Spec | None], ...]:
    """(rule, method, endpoint, declaration) of every /api/v1 route, from a bare app with the API
    blueprints registered: the same routes the hall's app serves, without a hall."""
    app = Flask("hallq-openapi")
    for bp in api:
        app.register_blueprint(bp, url_prefix=API)
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API + "/"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.rule, method, rule.endpoint, declared(app.view_functions[rule.endpoint])))
    return tuple(found)


def _path_parameter(converter: str | None, name: str, declaration: Spec) -> dict:
    schema = declaration.path.get(name) or (dict(ROW_ID) if converter == "int" else {"type": "string"})
    return {"name": name, "in": "path", "required": True, "schema": copy.deepcopy(schema)}


def _operation(declaration: Spec, parameters: list[dict], summary: str, body: type[BaseModel] | None,
               config: HallConfig) -> dict:
    content = declaration.content or {"application/json": {"schema": (
        {"$ref": f"#/components/schemas/{declaration.answer.__name__}"} if declaration.answer else {"type": "object"})}}
    says = {declaration.status: declaration.says, **declaration.also}
    op: dict = {"summary": summary}
    if not declaration.public:
        op["security"] = BEARER
    params = parameters + copy.deepcopy(list(declaration.params))
    if params:
        op["parameters"] = params
    if body is not None and body.model_fields:
        op["requestBody"] = _body(body)
    op["responses"] = {**{str(status): {"description": text, "content": copy.deepcopy(content)}
                          for status, text in says.items()}, **_errors(*declaration.errors)}
    if declaration.hook is not None:
        declaration.hook(op, config)
    return op


def document(config: HallConfig, api: tuple[Blueprint, ...] | None = None) -> dict:
    """The document for one hall; `api`: the blueprints to describe (default: those of /api/v1)."""
    paths: dict[str, dict] = {}
    for rule, method, endpoint, declaration in routes(api or blueprints()):
        if declaration is None:
            raise LookupError(f"{method} {rule} ({endpoint}) has no @spec declaration (server/api/spec.py)")
        if not declaration.listed:
            continue
        variables = _VARIABLE.findall(rule)
        path = _VARIABLE.sub(r"{\2}", rule[len(API):])
        if declaration.variants is None:
            params = [_path_parameter(conv, name, declaration) for conv, name in variables]
            ops = {path: _operation(declaration, params, declaration.summary, declaration.body, config)}
        else:  # one path per value of the variable
            name, variants = declaration.variants
            params = [_path_parameter(conv, var, declaration) for conv, var in variables if var != name]
            ops = {path.replace(f"{{{name}}}", value): _operation(declaration, copy.deepcopy(params), v.summary,
                                                                v.body, config)
                   for value, v in variants.items()}
        for where, op in ops.items():
            if method == "POST":
                _write_takes_key_and_deadline(op)
            _refusals(op)
            paths.setdefault(where, {})[method.lower()] = op
    return {
        "openapi": "3.0.3",
        "info": {"title": f"hallq API — {config.name}", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "BadRequest": {"description": "refused; `field` names the culprit. A request the HTTP parser cannot read "
                                              "(a garbled header) never reaches hallq: the server's plain-text 400",
                               "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}},
                                           "text/plain": {"schema": {"type": "string"}}}},
                "Error": {"description": "refused; `field` names the culprit", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"}}}},
                "Unavailable": {"description": "not applied: deadline passed, overloaded or storage failing; retry later",
                                "headers": {"Retry-After": {"required": True, "description": "seconds",
                                                            "schema": {"type": "integer", "minimum": 1}}},
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
            "schemas": _components(list(schemas.ANSWERS)),
        },
    }
