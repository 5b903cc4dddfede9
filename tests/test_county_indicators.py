"""The county's 主动评价率 and 未评价率 (issue #16 point 1) are the hall's own: a real hall shipping to a
real county, with ratings on site, by QR, left unrated, by default and taken out by an upheld appeal —
the county's per-day figures (reports by centre and department) and its live row equal what the hall
computes from its own tables (server/rating_record.indicators), and the county pages show them with
the hall's definitions."""

import urllib.request
from datetime import timedelta

from hallfactory import small_hall
from webhall import MONDAY_9AM, serve_one

from county import live, registry, reports, users
from county.app import create_app as county_app
from county.app import stop_app as stop_county
from county.serve import BackgroundCounty
from county.web import COOKIE
from server.app import create_app
from server.clock import ManualClock
from server.rating_record import INDICATOR_LEGEND, indicators
from server.shipper import Shipper

RATES = ("good_rate", "active_rate", "unrated_rate")


def ship(base, hall_db, token):
    shipper = Shipper(hall_db, base, token, batch=50)
    while shipper.step():
        pass
    shipper.stop()


def page(base: str, sid: str, path: str) -> str:
    req = urllib.request.Request(base + path, headers={"Cookie": f"{COOKIE}={sid}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
        return resp.read().decode()


def test_county_active_and_unrated_rates_equal_the_halls_and_are_defined_on_the_pages(pg_url, tmp_path):
    capp = county_app(pg_url)
    server = BackgroundCounty(capp).start()
    db = capp.config["DB"]
    token = registry.add_hall(db, "QS", "青石镇便民服务中心")
    users.add_user(db, "juzhang", "局长", "director", "director-pw-1")
    sid = users.open_session(db, users.authenticate(db, "juzhang", "director-pw-1"), "127.0.0.1")
    app = create_app(small_hall(), tmp_path / "hall.db", clock=ManualClock(MONDAY_9AM), supervise=False)
    engine, store = app.config["ENGINE"], app.config["ENGINE"].store
    try:
        serve_one(engine)
        engine.rate(5, "evaluator", window=1)  # on site
        serve_one(engine)
        engine.rate(1, "evaluator", window=1, reason="attitude")  # on site; its appeal is upheld below
        engine.rate(4, "qr", ticket=serve_one(engine).id)  # the citizen's, not on site
        engine.rate(2, "kiosk", ticket=serve_one(engine).id, reason="efficiency")  # on site
        serve_one(engine)
        serve_one(engine)  # these two unrated: one gets the default 基本满意 a week later, one never
        bad = store.rows("SELECT id FROM ratings WHERE grade = 1")[0]["id"]
        app.config["APPEALS"].file(bad, "w1", 1, "群众误按", "监控录像", None)
        app.config["APPEALS"].decide(1, True, "录像核实，属误评", "sup")
        day = engine.now().date()
        engine.clock.advance(minutes=8 * 24 * 60)
        assert engine.rate_by_default(3, 7, limit=1) == 1
        ship(server.url, tmp_path / "hall.db", token)

        nxt = (day + timedelta(days=1)).isoformat()
        hall = indicators(store, day.isoformat(), nxt, "hall")["all"]
        assert (hall["services"], hall["ratings"]) == (6, 4)
        assert [hall[k] for k in RATES] == [0.75, 0.5, 0.3333]  # 3/4 scored good; 3/6 on site; 2/6 unrated
        by_department = indicators(store, day.isoformat(), nxt, "department")
        with db.connection() as conn:
            [centre] = reports.rows(conn, "hall", day, day)
            county_departments = {r["name"]: r for r in reports.rows(conn, "department", day, day)}
            [now] = [h for h in live.overview(conn) if h["code"] == "QS"]
        assert {k: centre[k] for k in RATES} == {k: hall[k] for k in RATES}  # before: no active/unrated rate
        assert centre["services_done"] == hall["services"]
        assert {d: {k: r[k] for k in RATES} for d, r in county_departments.items()} == \
            {d: {k: r[k] for k in RATES} for d, r in by_department.items()}
        assert now["day"] == day.isoformat() and {k: now[k] for k in RATES} == {k: hall[k] for k in RATES}

        centres = page(server.url, sid, "/county/")
        assert '<td class="active_rate">50.0%</td>' in centres and '<td class="unrated_rate">33.3%</td>' in centres
        report = page(server.url, sid, f"/county/reports?from={day}&to={day}")
        one = page(server.url, sid, "/county/halls/QS")
        for html in (centres, report, one):
            assert '<dl class="legend" id="definitions">' in html
            for key in RATES:  # the hall's own definitions, word for word
                assert INDICATOR_LEGEND[key] in html, key
        assert "<td>50.0%</td><td>33.3%</td>" in report

        with db.connection() as conn:  # a county that kept these days before migration 6 fills them in
            conn.execute("ALTER TABLE day_figures DROP COLUMN rated_on_site, DROP COLUMN unrated")
            conn.execute("ALTER TABLE hall_live DROP COLUMN summary")
            conn.execute("DELETE FROM schema_version WHERE version >= 6")
        assert db.migrate() >= 7
        with db.connection() as conn:
            assert reports.rows(conn, "hall", day, day) == [centre]
    finally:
        store.close()
        server.stop()
        stop_county(capp)


def test_the_live_page_reads_each_halls_digest_never_its_waiting_list(pg_url):
    """Issue #15: the page's figures are folded at ingest (hall_live.summary); a county migrated from
    version 6 digests the states it already keeps, and the page still counts every one waiting after
    the waiting lists are gone from what it could read."""
    import psycopg
    from psycopg.types.json import Jsonb

    from county import migrations
    from county.db import Database

    with psycopg.connect(pg_url, autocommit=True) as conn:  # a county as version 6 left it
        conn.execute("CREATE TABLE schema_version (version integer NOT NULL, "
                     "applied_at timestamptz NOT NULL DEFAULT now())")
        for number, step in migrations.MIGRATIONS:
            if number <= 6:
                with conn.transaction():
                    step(conn)
                    conn.execute("INSERT INTO schema_version (version) VALUES (%s)", [number])
        conn.execute("INSERT INTO halls (code, name, last_ingest_at) VALUES ('QS', '青石镇', now())")
        state = live.empty()
        for i in range(300):
            state = live.fold(state, {"type": "ticket.issued", "ts": f"2026-11-30T09:{i // 60:02d}:{i % 60:02d}+08:00",
                                      "ticket": f"t{i}", "service": "S101" if i % 3 else "S102", "window": None,
                                      "data": {"service_name": "社保", "estimated_wait_minutes": 30}})
        state = live.fold(state, {"type": "ticket.called", "ts": "2026-11-30T09:30:00+08:00", "ticket": "t0",
                                  "service": "S102", "window": 1, "data": {}})
        conn.execute("INSERT INTO hall_live (hall, state) VALUES ('QS', %s)", [Jsonb(state)])
    db = Database(pg_url)
    try:
        assert db.migrate() >= 7
        with db.connection() as conn:
            conn.execute("UPDATE hall_live SET state = state - 'waiting'")  # nothing left for a page to count
            [hall] = live.overview(conn)
        assert hall["waiting"] == 299
        assert {s["code"]: s["waiting"] for s in hall["services"]} == {"S101": 200, "S102": 99}
        # the oldest still waiting is t1, issued 09:00:01; the hall's newest event is the call at 09:30
        assert 29.9 <= hall["longest_wait_minutes"] < 31
    finally:
        db.close()
