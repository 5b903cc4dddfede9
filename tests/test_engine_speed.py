"""Work the engine and API do per request (issue #11): each piece done once, and no slower path
giving a different answer."""

from __future__ import annotations

import pytest
from hallfactory import small_hall
from liveserver import serve_app

import server.engine as engine_module
from hallq.client import ApiClient
from server.app import create_app

KIOSK, CALLER = "t-kiosk", "t-caller"


@pytest.fixture
def live(tmp_path):
    app = create_app(small_hall(all_day=True), tmp_path / "speed.db", supervise=False)
    with serve_app(app) as url:
        yield url, app


def test_issuing_estimates_the_queue_once_and_answers_with_what_it_printed(live, monkeypatch):
    url, app = live
    caller = ApiClient(url, CALLER)
    for n, staff in [(1, "1001"), (2, "1002"), (3, "1003")]:
        caller.window(n, "login", staff=staff)
    kiosk = ApiClient(url, KIOSK)
    for _ in range(5):
        kiosk.post("/tickets", {"service": "S101"})
    calls = []
    real = engine_module.estimate_wait

    def counted(*args, **kwargs):
        calls.append(args[0].service)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_module, "estimate_wait", counted)
    t = kiosk.post("/tickets", {"service": "S101"})
    assert calls == ["S101"]  # not once more for the answer's position
    assert t["waiting_ahead"] == 5 and t["estimated_wait_minutes"] > 0
    assert t["position"] == {"ahead": t["waiting_ahead"], "estimated_wait_minutes": t["estimated_wait_minutes"]}
    assert ApiClient(url).get(f"/tickets/{t['id']}")["position"] == t["position"]  # nothing moved since
