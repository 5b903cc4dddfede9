"""The county's figures of a hall take 申诉复核 and default ratings as the hall does: a rating an upheld
appeal took out leaves the county's day figures and live 好评率 too, and a default 基本满意 rating a
week later counts for its service's day, so the hall's indicators and the county's agree."""

import json
import sqlite3
import time
from datetime import timedelta

from hallfactory import small_hall
from liveserver import REPO, all_day_config, free_port, start_serve
from webhall import MONDAY_9AM, serve_one

from county import registry
from county.app import create_app as county_app
from county.app import stop_app as stop_county
from county.serve import BackgroundCounty
from hallq.client import ApiClient
from hallq.config import load_config
from server.app import create_app
from server.clock import ManualClock
from server.rating_record import indicators
from server.shipper import Shipper
from server.stats import replay_days


def ship(base, hall_db, token):
    shipper = Shipper(hall_db, base, token, batch=50)
    while shipper.step():
        pass
    shipper.stop()


def county_day(db, day):
    with db.connection() as conn:
        row = conn.execute("SELECT ratings, good_ratings, bad_ratings FROM day_figures "
                           "WHERE hall = 'QS' AND dim = 'hall' AND day = %s", [day]).fetchone()
        [state] = conn.execute("SELECT state FROM hall_live WHERE hall = 'QS'").fetchone()
    return tuple(row), state


def test_hall_and_county_agree_after_an_upheld_appeal_and_a_default_rating(pg_url, tmp_path):
    capp = county_app(pg_url)
    server = BackgroundCounty(capp).start()
    db = capp.config["DB"]
    token = registry.add_hall(db, "QS", "青石镇便民服务中心")
    # no users added: their sign-up events carry the real date, and the county's live day is the newest
    app = create_app(small_hall(), tmp_path / "hall.db", clock=ManualClock(MONDAY_9AM), supervise=False)
    engine, store = app.config["ENGINE"], app.config["ENGINE"].store
    try:
        for grade in (5, 1, 4):
            serve_one(engine)
            engine.rate(grade, "evaluator", window=1, **({"reason": "attitude"} if grade == 1 else {}))
        serve_one(engine)  # never rated: 基本满意 by default a week later
        day = engine.now().date()
        nxt = (day + timedelta(days=1)).isoformat()
        bad = store.rows("SELECT id FROM ratings WHERE grade = 1")[0]["id"]
        appeals = app.config["APPEALS"]
        appeals.file(bad, "w1", 1, "群众误按", "监控录像", None)
        appeals.decide(1, True, "录像核实，属误评", "sup")
        ship(server.url, tmp_path / "hall.db", token)
        hall = indicators(store, day.isoformat(), nxt, "hall")["all"]
        assert (hall["ratings"], hall["good_rate"]) == (2, 1.0)
        (ratings, good, bad_n), state = county_day(db, day)
        assert (ratings, good, bad_n) == (2, 2, 0)  # before the fix: 3 ratings, 1 bad
        assert (state["ratings"], state["good"]) == (2, 2), state
        engine.clock.advance(minutes=8 * 24 * 60)
        assert engine.rate_by_default(3, 7) == 1
        ship(server.url, tmp_path / "hall.db", token)
        hall = indicators(store, day.isoformat(), nxt, "hall")["all"]
        (ratings, good, bad_n), state = county_day(db, day)
        assert (hall["ratings"], hall["good_rate"]) == (ratings, good / ratings) == (3, 1.0)
        assert state["day"] == day.isoformat() and (state["ratings"], state["good"]) == (3, 3)  # the service's day
    finally:
        store.close()
        server.stop()
        stop_county(capp)


def test_county_day_figures_drop_a_rating_upheld_after_the_day_was_shipped(pg_url, tmp_path):
    """`hallq serve` shipping to a real county: the county's per-day figures (/halls/QS/figures,
    county/figures.py by_day) equal the hall's own scored figures before and after an appeal upheld
    once the rating's day is already at the county."""
    capp = county_app(pg_url)
    county = BackgroundCounty(capp).start()
    db = capp.config["DB"]
    token = registry.add_hall(db, "QS", "青石镇便民服务中心")
    reader = registry.add_reader(db, "test")
    conf = all_day_config(REPO / "config" / "township.toml", tmp_path / "hall.toml")
    conf.write_text(conf.read_text(encoding="utf-8") + '\n[[tokens]]\nname = "复核人"\nrole = "supervisor"\n'
                    f'token = "test-reviewer"\n\n[county]\nurl = "{county.url}"\ntoken = "{token}"\n', encoding="utf-8")
    config, hall_db = load_config(conf), tmp_path / "hall.db"
    port = free_port()
    proc = start_serve(conf, hall_db, port)
    base = f"http://127.0.0.1:{port}"
    tokens = {t.role: t.token for t in config.tokens}
    kiosk, caller = ApiClient(base, tokens["kiosk"]), ApiClient(base, tokens["caller"])
    admin, reviewer = ApiClient(base, tokens["admin"]), ApiClient(base, "test-reviewer")
    county_api = ApiClient(county.url, reader)

    def hall_scored() -> dict[str, tuple[int, int]]:
        conn = sqlite3.connect(hall_db.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            return {d: (n, bad) for d, n, bad in conn.execute(
                "SELECT rec.day, COUNT(*), SUM(sr.grade <= 2) FROM scored_ratings sr "
                "JOIN records rec ON rec.id = sr.record_id GROUP BY rec.day")}
        finally:
            conn.close()

    def hall_events() -> list[dict]:
        conn = sqlite3.connect(hall_db.resolve().as_uri() + "?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            rows = [dict(r) for r in conn.execute("SELECT * FROM events ORDER BY id")]
        finally:
            conn.close()
        return [{**r, "data": json.loads(r["data"] or "{}")} for r in rows]

    def county_days() -> dict:
        """The county's figures once it holds every event the hall has logged."""
        last = hall_events()[-1]["id"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with db.connection() as conn:
                mark = conn.execute("SELECT high_water FROM halls WHERE code = 'QS'").fetchone()[0]
            if mark >= last:
                return county_api.get("/halls/QS/figures")["days"]
            time.sleep(0.05)
        raise AssertionError(f"the county's mark stayed at {mark} < {last}")

    try:
        service = next(iter(config.windows[1].services))
        caller.window(1, "login", staff=next(iter(config.staff)))
        for grade in (5, 1, 4):
            kiosk.post("/tickets", {"service": service})
            caller.window(1, "call-next")
            caller.window(1, "finish", outcome="done")
            caller.post("/ratings", {"grade": grade, "channel": "evaluator", "window": 1,
                                     **({"reason": "attitude"} if grade == 1 else {})})
        days = county_days()
        [(day, (ratings, bad))] = hall_scored().items()
        assert (days[day]["ratings"], days[day]["bad_ratings"]) == (ratings, bad) == (3, 1)
        rating = next(r for r in admin.get("/rating-records?period=day")["records"] if r["grade"] == 1)
        appeal = admin.post(f"/ratings/{rating['id']}/appeal", {"reason": "群众误按", "evidence": "监控录像"})
        reviewer.post(f"/appeals/{appeal['id']}/uphold", {"note": "录像核实，属误评"})
        days = county_days()
        assert hall_scored()[day] == (2, 0)
        assert (days[day]["ratings"], days[day]["bad_ratings"]) == (2, 0)  # before the fix: 3 and 1
        assert days == replay_days(hall_events())  # every figure as the hall's own log gives it
    finally:
        proc.terminate()
        proc.wait(15)
        proc.stdout.close()
        county.stop()
        stop_county(capp)

