"""Schemathesis against a real server: whatever a client sends, with any role's token or none, the API
answers no 5xx and nothing its own OpenAPI document (/api/v1/openapi.json) does not promise: status
codes, content types, headers and bodies as documented, and every 405 with Allow.

Bounded for the suite (about 10,000 requests, under a minute on a loaded 2-core machine): a fixed
seed, deterministic generation, few examples per operation, no example database, one keep-alive
connection. The event stream is asked with once=1: the streaming form differs only in waiting for
more events afterwards, and its input checks are the same code, run before the first byte
(tests/test_badinput.py checks a bad Last-Event-ID on the streaming form)."""

from __future__ import annotations

import json
import urllib.request

import pytest
import requests
import schemathesis
from hallfactory import small_hall
from liveserver import serve_app
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from server.app import create_app
from server.openapi import document

# role -> a bearer token of small_hall(); None: no token at all
TOKENS = {"none": None, "kiosk": "t-kiosk", "caller": "t-caller", "window": "t-w3", "admin": "t-admin",
          "supervisor": "t-sup", "display": "t-display"}
CONFIG = {
    "seed": 20261123,
    "generation": {"max-examples": 10, "deterministic": True, "database": "none"},
    "phases": {"stateful": {"enabled": False}},
    "request-timeout": 10,
}
HALL = small_hall(all_day=True)
# Built at import, so pytest shows one test per operation and role; the `base` fixture checks that
# the server serves this very document.
schema = schemathesis.openapi.from_dict(document(HALL), config=SchemathesisConfig.from_dict(CONFIG))
SESSION = requests.Session()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    app = create_app(HALL, tmp_path_factory.mktemp("fuzz") / "hall.db", supervise=False)
    with serve_app(app) as url:
        with urllib.request.urlopen(f"{url}/api/v1/openapi.json") as answer:
            assert json.load(answer) == document(HALL)
        yield url
    SESSION.close()


def not_a_server_error(ctx, response, case) -> None:
    """Stricter than schemathesis' own check: a 503 (deadline, overload, storage) only where documented."""
    if response.status_code >= 500 and str(response.status_code) not in case.operation.definition.raw["responses"]:
        raise AssertionError(f"server error {response.status_code}: {response.text[:300]}")


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, unsupported_method]


@pytest.mark.parametrize("token", TOKENS.values(), ids=TOKENS.keys())
@schema.parametrize()
def test_api_answers_only_what_its_document_promises(case, token, base):
    if case.operation.path == "/events":
        case.query = {**(case.query or {}), "once": "1"}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    case.call_and_validate(base_url=f"{base}/api/v1", headers=headers, checks=CHECKS, session=SESSION)
