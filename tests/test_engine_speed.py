"""Work the engine and API do per request (issue #11): each piece done once, and no slower path
giving a different answer."""

from __future__ import annotations

import threading

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

    real_place = engine_module.KeptReplay.place

    def counted_place(self, x):
        calls.append(x.service)
        return real_place(self, x)

    monkeypatch.setattr(engine_module, "estimate_wait", counted)
    monkeypatch.setattr(engine_module.KeptReplay, "place", counted_place)  # the kept replay (a burst)
    t = kiosk.post("/tickets", {"service": "S101"})
    assert calls == ["S101"]  # not once more for the answer's position
    assert t["waiting_ahead"] == 5 and t["estimated_wait_minutes"] > 0
    pos = t["position"]
    assert (pos["ahead"], pos["estimated_wait_minutes"]) == (t["waiting_ahead"], t["estimated_wait_minutes"])
    assert 0 < pos["estimate_low"] <= pos["estimated_wait_minutes"] <= pos["estimate_high"]
    assert pos["wait_text"].startswith("预计等候约 ") and pos["on_duty"] and pos["opens_at"] is None
    assert ApiClient(url).get(f"/tickets/{t['id']}")["position"] == t["position"]  # nothing moved since


class CountingLock:
    """The engine's lock, counting how often a request takes it (outermost acquisitions only)."""

    def __init__(self, lock) -> None:
        self.lock, self.taken, self.depth = lock, 0, {}

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if not self.lock.acquire(blocking, timeout):
            return False
        me = threading.get_ident()
        self.depth[me] = self.depth.get(me, 0) + 1
        self.taken += self.depth[me] == 1
        return True

    def release(self) -> None:
        self.depth[threading.get_ident()] -= 1
        self.lock.release()

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()

    def staged(self, item) -> None:  # the engine's lock also keeps what a hold staged for commit
        self.lock.staged(item)


def test_a_window_action_waits_for_the_engine_lock_once(live, monkeypatch):
    # Under load every acquisition of the engine's lock waits behind other actions' commits; the
    # answer's window state is read without it, so call-next and finish wait once each.
    url, app = live
    engine = app.config["ENGINE"]
    caller = ApiClient(url, CALLER)
    caller.window(1, "login", staff="1001")
    ApiClient(url, KIOSK).post("/tickets", {"service": "S101"})
    counting = CountingLock(engine._lock)
    monkeypatch.setattr(engine, "_lock", counting)
    called = caller.window(1, "call-next")
    assert counting.taken == 1
    assert called["ticket"]["code"] == "A001" and called["window"]["state"] == "called"
    assert called["window"]["current"]["code"] == "A001"
    finished = caller.window(1, "finish", outcome="done")
    assert counting.taken == 2
    assert finished["window"]["state"] == "idle" and finished["window"]["current"] is None


def test_the_live_queue_takes_the_engine_lock_a_few_times_not_once_per_waiting_ticket(live, monkeypatch):
    url, app = live
    engine = app.config["ENGINE"]
    caller = ApiClient(url, CALLER)
    for n, staff in [(1, "1001"), (2, "1002")]:  # no backup window, nobody at a window: estimates
        caller.window(n, "login", staff=staff)      # do not move with the clock between requests
    kiosk = ApiClient(url, KIOSK)
    ids = [kiosk.post("/tickets", {"service": s})["id"] for s in ["S101", "S201", "S202", "S102"] * 3]
    counting = CountingLock(engine._lock)
    monkeypatch.setattr(engine, "_lock", counting)
    queue = ApiClient(url, "t-sup").get("/queue")
    assert counting.taken <= 2  # the live tickets and one estimate snapshot
    waiting = [t for t in queue["tickets"] if t["state"] == "waiting"]
    assert len(waiting) == 12 and len({t["position"]["estimated_wait_minutes"] for t in waiting}) > 3
    mine = {t["code"]: t["position"] for t in (ApiClient(url).get(f"/tickets/{i}") for i in ids)
            if t["state"] == "waiting"}
    assert {t["code"]: t["position"] for t in waiting} == mine  # each as its own ticket page shows it
