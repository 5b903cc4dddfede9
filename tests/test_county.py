"""The county server against real PostgreSQL: ingest is ordered, idempotent by (hall, event id) and
answers its high-water mark; months become partitions; figures are the hall's own replay, by the
hall's local day, whatever the receipt time."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pgrig
import psycopg
import psycopg.conninfo
import pytest
from liveserver import wait_for

from county import registry
from county.app import create_app, stop_app
from county.serve import BackgroundCounty
from server import stats


@pytest.fixture
def county(pg_url):
    app = create_app(pg_url)
    server = BackgroundCounty(app).start()
    yield server.url, app.config["DB"], pg_url
    server.stop()
    stop_app(app)


def call(base: str, method: str, path: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    return raw_call(base, path, token, json.dumps(body).encode() if body is not None else None, method)


def ev(i: int, ts: str, kind: str = "ticket.issued", ticket: str | None = None, **data) -> dict:
    return {"id": i, "ts": ts, "type": kind, "ticket": ticket or f"t{i}", "data": data}


def test_ingest_applies_each_event_once_in_order_and_answers_the_mark(county):
    base, db, _ = county
    town = registry.add_hall(db, "T1", "青石镇便民服务中心")
    other = registry.add_hall(db, "T2", "白沙镇便民服务中心")
    reader = registry.add_reader(db, "county-office")
    batch = [ev(i, f"2026-11-30T09:{i:02d}:00+08:00") for i in (1, 2, 5)]  # ids need not be contiguous
    assert call(base, "GET", "/api/v1/ingest", town) == (200, {"hall": "T1", "high_water": 0})
    assert call(base, "POST", "/api/v1/ingest", town, {"after": 0, "events": batch})[1]["applied"] == 3
    # The answer was lost and the hall sends the same batch, plus one more: only the new one applies.
    status, answer = call(base, "POST", "/api/v1/ingest", town, {"after": 0, "events": batch + [ev(6, "2026-11-30T10:00:00+08:00")]})
    assert (status, answer["high_water"], answer["applied"], answer["skipped"]) == (200, 6, 1, 3)
    # The hall believes the county holds more than it does (a county restored from a backup): gap, with the mark.
    status, answer = call(base, "POST", "/api/v1/ingest", town, {"after": 9, "events": [ev(10, "2026-11-30T10:01:00+08:00")]})
    assert (status, answer["error"], answer["high_water"]) == (409, "gap", 6)
    # Out of order, no offset, a day outside 2000..2099: refused whole, naming the field.
    for bad, field in ([ev(8, "2026-11-30T10:00:00+08:00"), ev(7, "2026-11-30T10:00:00+08:00")], "events[1].id"), \
                      ([ev(7, "2026-11-30T10:00:00")], "events[0].ts"), ([ev(7, "1999-12-31T10:00:00+08:00")], "events[0].ts"):
        status, answer = call(base, "POST", "/api/v1/ingest", town, {"after": 6, "events": bad})
        assert (status, answer["field"]) == (422, field)
    # Another hall's ids are its own; a hall's token writes only its own log; readers cannot write.
    assert call(base, "POST", "/api/v1/ingest", other, {"after": 0, "events": batch})[1]["applied"] == 3
    assert call(base, "POST", "/api/v1/ingest", reader, {"after": 0, "events": batch})[0] == 403
    assert call(base, "POST", "/api/v1/ingest", "wrong", {"after": 0, "events": batch})[0] == 401
    assert call(base, "GET", "/api/v1/halls/T1/figures", town)[0] == 403
    with psycopg.connect(county[2]) as conn:
        rows = conn.execute("SELECT hall, count(*), count(DISTINCT event_id) FROM events GROUP BY hall ORDER BY hall").fetchall()
        assert rows == [("T1", 4, 4), ("T2", 3, 3)]
        # The token is kept only as its hash.
        assert conn.execute("SELECT count(*) FROM tokens WHERE token_hash = %s", [town.encode()]).fetchone()[0] == 0
    halls = {h["code"]: h for h in call(base, "GET", "/api/v1/halls", reader)[1]["halls"]}
    assert (halls["T1"]["high_water"], halls["T2"]["high_water"]) == (6, 5)


def test_links_tell_a_diverged_hall_from_a_resend_and_old_shippers_and_old_rows_still_work(county):
    """county/ingest.py: a hall restored from a backup reuses ids for other events. A different SM3
    link (or, for rows shipped before links, a different event) at an id the county holds is 409
    diverged, the hall marked and refused until `rebase`; a shipper without links, and rows the
    county holds without links, go on as before."""
    from county.rebase import rebase

    base, db, url = county
    link = {i: f"{i:064x}" for i in range(1, 10)}
    other = {i: f"{i + 100:064x}" for i in range(1, 10)}

    def linked(i: int, links: dict = link) -> dict:
        return {**ev(i, f"2026-11-30T09:{i:02d}:00+08:00"), "link": links[i]}

    old = [ev(i, f"2026-11-30T09:{i:02d}:00+08:00") for i in (1, 2, 3)]  # an old shipper: no links at all
    t1, t2, t3, t4 = (registry.add_hall(db, f"T{n}", f"中心{n}") for n in (1, 2, 3, 4))
    assert call(base, "POST", "/api/v1/ingest", t1, {"after": 0, "events": old})[1]["applied"] == 3
    assert call(base, "POST", "/api/v1/ingest", t1, {"after": 0, "events": old})[1]["skipped"] == 3  # its resend
    # A new shipper after old rows: the link of `after` is not compared with the nothing the county holds.
    status, answer = call(base, "POST", "/api/v1/ingest", t1, {"after": 3, "after_link": link[3],
                                                               "events": [linked(4), linked(5)]})
    assert (status, answer["applied"]) == (200, 2)
    assert call(base, "POST", "/api/v1/ingest", t1, {"after": 5, "after_link": link[5], "events": [linked(6)]})[0] == 200
    assert call(base, "POST", "/api/v1/ingest", t1, {"after": 3, "after_link": link[3],
                                                     "events": [linked(4), linked(5)]})[1]["skipped"] == 2
    # Old rows, an event re-sent that is not the one the county holds: diverged, and refused until rebased.
    call(base, "POST", "/api/v1/ingest", t2, {"after": 0, "events": old})
    status, answer = call(base, "POST", "/api/v1/ingest", t2, {"after": 0, "events": [
        old[0], ev(2, "2026-11-30T11:11:00+08:00")]})
    assert (status, answer["error"], answer["high_water"]) == (409, "diverged", 3)
    assert call(base, "GET", "/api/v1/ingest", t2)[1]["diverged"]["reason"].startswith("re-sent event 2")
    assert call(base, "POST", "/api/v1/ingest", t2, {"after": 3, "events": [ev(4, "2026-11-30T11:12:00+08:00")]})[1][
        "error"] == "diverged"
    # A log ending below the county's mark: at an event the county holds the same, not yet diverged
    # (a restored copy that has written nothing new); at one it cannot match, diverged.
    call(base, "POST", "/api/v1/ingest", t3, {"after": 0, "events": [linked(1), linked(2), linked(3)]})
    assert call(base, "POST", "/api/v1/ingest", t3, {"after": 2, "after_link": link[2], "events": []})[0] == 200
    status, answer = call(base, "POST", "/api/v1/ingest", t3, {"after": 3, "after_link": other[3], "events": []})
    assert (status, answer["error"]) == (409, "diverged")  # not below the mark, but a different event 3
    # The link of `after` differs: diverged, nothing applied.
    call(base, "POST", "/api/v1/ingest", t4, {"after": 0, "events": [linked(1), linked(2)]})
    status, answer = call(base, "POST", "/api/v1/ingest", t4, {"after": 2, "after_link": other[2],
                                                               "events": [linked(3, other)]})
    assert (status, answer["error"], answer["after"], answer["high_water"]) == (409, "diverged", 2, 2)
    # The hall finds the last shared event, reports it; the rebase archives the rest and it ships on.
    probes = [{"id": i, "ts": f"2026-11-30T09:{i:02d}:00+08:00", "type": "ticket.issued",
               "link": (link if i < 3 else other)[i]} for i in (1, 2, 3)]
    assert call(base, "POST", "/api/v1/ingest/compare", t3, {"events": probes})[1]["same"] == [1, 2]
    assert call(base, "POST", "/api/v1/ingest/compare", t3, {"events": probes[1:], "common": 3})[0] == 422
    assert call(base, "POST", "/api/v1/ingest/compare", t3, {"events": probes[1:], "common": 2})[0] == 200
    assert rebase(db, "T3", "tester")["archived"] == 1
    status, answer = call(base, "POST", "/api/v1/ingest", t3, {"after": 2, "after_link": link[2],
                                                               "events": [linked(3, other)]})
    assert (status, answer["applied"]) == (200, 1)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT link FROM events WHERE hall = 'T3' AND event_id = 3").fetchone()[0] == other[3]
        assert conn.execute("SELECT link FROM archived_events WHERE hall = 'T3'").fetchall() == [(link[3],)]
        marked = dict(conn.execute("SELECT code, diverged IS NOT NULL FROM halls").fetchall())
    assert marked == {"T1": False, "T2": True, "T3": False, "T4": True}


def raw_call(base: str, path: str, token: str, body: bytes | None, method: str = "POST") -> tuple[int, dict]:
    """A request with the exact body bytes given (None: no body)."""
    req = urllib.request.Request(base + path, data=body, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_what_postgresql_cannot_hold_or_the_county_cannot_read_is_refused_by_name_never_a_500(county):
    base, db, _ = county
    town = registry.add_hall(db, "T1", "青石镇便民服务中心", level="village")
    up = registry.add_hall(db, "T2", "白沙镇便民服务中心")
    publisher = registry.add_reader(db, "catalogue-office", role="catalogue")
    head = '{"after": 0, "events": [{"id": 1, "ts": "2026-11-30T09:00:00+08:00", "type": "x", '
    # NUL, unpaired surrogates, NaN, integers past 64 bits, deep nesting, and the data fields the
    # figures, live state and case list read, mistyped: 4xx naming the field, nothing ingested.
    for body, field in ((head + '"ticket": "a\\u0000", "data": {}}]}', "events[0].ticket"),
                        (head + '"data": {"a": "\\ud800"}}]}', "events[0].data.a"),
                        (head + '"data": {"\\udc00": 1}}]}', "events[0].data"),
                        (head.replace('+08:00"', '+08:00\\u0000"') + '"data": {}}]}', "events[0].ts"),
                        (head + '"data": {"a": NaN}}]}', "events[0].data.a"),
                        ('{"after": 18446744073709551616, "events": []}', "after"),
                        (head + '"data": ' + '{"a": ' * 3000 + "1" + "}" * 3000 + "}]}", "body"),
                        (head.replace('"x"', '"case.opened"') + '"data": {"case": "x"}}]}', "events[0].data.case"),
                        (head.replace('"x"', '"ticket.called"') + '"data": {}}]}', "events[0].data.waited_minutes"),
                        (head.replace('"x"', '"rating.recorded"') + '"data": {"grade": "x", "bad": true}}]}',
                         "events[0].data.grade")):
        status, answer = raw_call(base, "/api/v1/ingest", town, body.encode())
        assert 400 <= status < 500 and answer["field"] == field, (body[:90], status, answer)
    assert call(base, "GET", "/api/v1/ingest", town)[1]["high_water"] == 0
    # A hall's report of what it runs cannot break the routing of every other hall's referrals.
    catalogue = {"matters": [{"code": "S1", "name": "社保卡申领", "category": "社保", "case_kind": "即办",
                              "promised_days": 0, "minutes": 5, "materials": ["身份证"]}]}
    assert call(base, "POST", "/api/v1/catalogue/releases", publisher, catalogue)[0] == 201
    for report, field in (({"release": True}, "release"), ({"release": 1, "overrides": {"not_offered": 5}},
                                                            "overrides.not_offered")):
        status, answer = call(base, "POST", "/api/v1/catalogue/status", up, report)
        assert (status, answer["field"]) == (422, field)
    assert call(base, "POST", "/api/v1/catalogue/status", up, {"release": 1, "overrides": {}})[0] == 200
    referral = {"id": "ref-000001", "matter": "S1", "phone": "13800000000", "materials": [{"name": "身份证", "checked": True}]}
    status, answer = call(base, "POST", "/api/v1/referrals", town, referral)
    assert (status, answer["to_hall"]) == (201, "T2")
    for path, token, body in (("/api/v1/referrals", town, json.dumps({**referral, "id": "ref-000002", "materials": [
                                   {"name": "身份\x00证", "checked": True}]})),
                              ("/api/v1/referrals/T1/ref-000001/step", up, '{"step": "refused", "reason": "\\u0000"}'),
                              ("/api/v1/referrals/T1%00/ref-000001/step", up, '{"step": "refused"}')):
        status, answer = raw_call(base, path, token, body.encode())
        assert status == 400 and answer["error"] == "bad_request", (path, status, answer)
    assert call(base, "GET", "/api/v1/cases/steps?after=99999999999999999999", town)[0] == 422


def test_postgresql_restarted_under_the_county_answers_503_then_every_request_succeeds_again(county):
    base, db, url = county
    town = registry.add_hall(db, "T1", "青石镇便民服务中心")
    batch = {"after": 0, "events": [ev(1, "2026-11-30T09:00:00+08:00")]}
    with ThreadPoolExecutor(4) as pool:  # several connections kept in the county's pool
        assert set(pool.map(lambda _: call(base, "GET", "/api/v1/ingest", town)[0], range(8))) == {200}
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(pgrig.admin_url(), autocommit=True) as admin:
        # PostgreSQL goes away (no new connections; every session ended, as a restart does) ...
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
            wait_for(lambda: admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                                           [name]).fetchone()[0] == 0, "the county's sessions to end")
            for _ in range(3):
                req = urllib.request.Request(base + "/api/v1/ingest", json.dumps(batch).encode(), method="POST",
                                             headers={"Authorization": f"Bearer {town}", "Content-Type": "application/json"})
                with pytest.raises(urllib.error.HTTPError) as down:
                    urllib.request.urlopen(req, timeout=20)
                assert (down.value.code, json.load(down.value)["error"], down.value.headers["Retry-After"]) == \
                    (503, "database_unavailable", "2")
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    # ... and is back: the very next requests succeed (no kept connection PostgreSQL dropped is reused).
    assert [call(base, "GET", "/api/v1/ingest", town)[0] for _ in range(6)] == [200] * 6
    assert call(base, "POST", "/api/v1/ingest", town, batch)[1] == {"hall": "T1", "high_water": 1, "applied": 1, "skipped": 0}


def test_figures_follow_the_halls_local_day_not_the_receipt_time_and_months_are_partitions(county):
    base, db, url = county
    token = registry.add_hall(db, "V1", "石桥村便民服务站")
    reader = registry.add_reader(db, "county-office")
    # A hall whose clock says 2031 (skewed), one day across a month end, a ticket closed at midnight
    # that belongs to the day it was issued, and a 差评 with its case.
    events = [
        ev(1, "2026-01-31T16:00:00+08:00", ticket="a"),
        ev(2, "2026-01-31T16:05:00+08:00", "ticket.called", ticket="a", waited_minutes=5.0),
        ev(3, "2026-01-31T16:09:00+08:00", "ticket.finished", ticket="a", state="finished"),
        ev(4, "2026-01-31T16:10:00+08:00", "rating.recorded", ticket="a", bad=True),
        ev(5, "2026-01-31T16:10:00+08:00", "case.opened", ticket=None, case=1),
        ev(6, "2026-01-31T17:00:00+08:00", ticket="b"),
        ev(7, "2026-02-01T00:00:01+08:00", "ticket.expired", ticket="b", day="2026-01-31"),
        ev(8, "2026-02-01T08:40:00+08:00", ticket="c"),
        ev(9, "2026-02-01T08:52:30+08:00", "ticket.called", ticket="c", waited_minutes=12.5),
        ev(10, "2031-05-05T09:00:00+08:00", ticket="d"),
    ]
    assert call(base, "POST", "/api/v1/ingest", token, {"after": 0, "events": events})[1]["high_water"] == 10
    status, answer = call(base, "GET", "/api/v1/halls/V1/figures", reader)
    assert status == 200
    hall_own = stats.replay_days([{**e, "ticket_id": e["ticket"]} for e in events])
    assert answer["days"] == hall_own
    jan31 = answer["days"]["2026-01-31"]
    assert (jan31["issued"], jan31["finished"], jan31["no_shows"], jan31["ratings"], jan31["bad_ratings"],
            jan31["cases_opened"], jan31["mean_wait_minutes"]) == (2, 1, 1, 1, 1, 1, 5.0)
    assert set(answer["days"]) == {"2026-01-31", "2026-02-01", "2031-05-05"}
    assert call(base, "GET", "/api/v1/halls/V1/figures?from=2026-02-01&to=2026-12-31", reader)[1]["days"] == {
        "2026-02-01": hall_own["2026-02-01"]}
    with psycopg.connect(url) as conn:
        parts = conn.execute("SELECT c.relname, count(e.*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                             "LEFT JOIN events e ON e.tableoid = c.oid WHERE c.relkind = 'r' GROUP BY 1 ORDER BY 1").fetchall()
        assert parts == [("events_202601", 7), ("events_202602", 2), ("events_203105", 1)]
        # Receipt is the county's clock, kept beside the hall's own stamp and day.
        row = conn.execute("SELECT ts, day, received_at > now() - interval '1 minute' FROM events "
                           "WHERE event_id = 10").fetchone()
        assert (row[0], row[1].isoformat(), row[2]) == ("2031-05-05T09:00:00+08:00", "2031-05-05", True)
