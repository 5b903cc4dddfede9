"""County pages on real PostgreSQL, fed by a real hall's events through the real shipper: the per-day
figures table equals the hall's own replay (and a resent batch counts once); every centre live with
link state; sign-in with CSRF and roles; reports, 红黑榜 and exports; the public wait page; and the
centres page in headless Chromium."""

from __future__ import annotations

import io
import json
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from datetime import date, datetime
from http.cookiejar import CookieJar
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from liveserver import REPO, all_day_config

from county import registry, users
from county.app import create_app as county_app
from county.app import stop_app as stop_county
from county.serve import BackgroundCounty
from hallq.config import load_config
from server import stats
from server.app import create_app, stop_app
from server.clock import ManualClock
from server.shipper import Shipper, county_form
from server.store import Changes

TZ = ZoneInfo("Asia/Shanghai")
GRADES = [5, 4, 5, 1, 5, 3, 2, 5]
DAYS = [date(2026, 11, 26), date(2026, 11, 27)]


def seed_hall(config_path: Path, db: Path, per_day: int = 12) -> ManualClock:
    """Two days of a township hall by its own engine; on the last day some citizens still wait and
    window 1 has an open alert-free session."""
    clock = ManualClock(datetime.combine(DAYS[0], datetime.min.time(), TZ))
    app = create_app(load_config(config_path), db, clock=clock, supervise=False)
    e, config = app.config["ENGINE"], app.config["HALL"]
    staff = list(config.staff)[:2]
    services = [next(iter(config.windows[w].services)) for w in (1, 2)]
    n = 0
    for day in DAYS:
        clock.set(datetime.combine(day, datetime.min.time(), TZ).replace(hour=9))
        for w, s in zip((1, 2), staff, strict=True):
            e.login(w, s)
        for i in range(per_day):
            e.issue(services[i % 2])
            clock.advance(minutes=1)
        for i in range(per_day - 4):  # four are left waiting
            w = 1 + i % 2
            if e.call_next(w)["result"] != "accepted":
                continue
            clock.advance(minutes=2)
            e.finish(w)
            n += 1
            e.rate(GRADES[n % len(GRADES)], "evaluator", window=w)
    # The hall takes NUL in free text (an alert's ack note), which PostgreSQL cannot hold.
    ch = Changes()
    ch.event(ts=clock.now().isoformat(), type="alert.acked", actor="admin", window=1, service=None,
             data={"alert": 1, "kind": "wait", "level": 1, "note": "已处理\x00"})
    e.store.commit(ch)
    stop_app(app)
    e.store.close()
    return clock


@pytest.fixture
def county(pg_url, tmp_path):
    app = county_app(pg_url)
    server = BackgroundCounty(app).start()
    db = app.config["DB"]
    config = all_day_config(REPO / "config" / "township.toml", tmp_path / "township.toml")
    hall_db = tmp_path / "hall.db"
    seed_hall(config, hall_db)
    token = registry.add_hall(db, "QS", "青石镇便民服务中心")
    registry.add_hall(db, "BS", "白沙镇便民服务中心")  # registered, never shipped
    users.add_user(db, "juzhang", "王局长", "director", "director-pw-1")
    users.add_user(db, "shenji", "李审计", "auditor", "auditor-pw-1")
    yield server.url, db, hall_db, token
    server.stop()
    stop_county(app)


def ship_all(base: str, hall_db: Path, token: str, batch: int = 7) -> None:
    shipper = Shipper(hall_db, base, token, batch=batch)
    while shipper.step():
        pass
    shipper.stop()


def hall_events(hall_db: Path) -> list[dict]:
    conn = sqlite3.connect(hall_db)
    conn.row_factory = sqlite3.Row
    rows = [county_form(dict(r)) for r in conn.execute("SELECT * FROM events ORDER BY id")]
    conn.close()
    return rows


def test_day_figures_equal_the_halls_replay_and_a_resent_batch_counts_once(county):
    base, db, hall_db, token = county
    ship_all(base, hall_db, token)
    events = hall_events(hall_db)
    # Every event arrived, the one with a NUL too (as U+FFFD): it did not stop the log shipping.
    assert [h["high_water"] for h in registry.halls(db) if h["code"] == "QS"] == [events[-1]["id"]]
    assert events[-1]["data"]["note"] == "已处理\ufffd"
    # The hall's lost answer: the whole log sent again from 0 is skipped, and figures do not move.
    req = urllib.request.Request(base + "/api/v1/ingest", json.dumps({"after": 0, "events": events[:50]}).encode(),
                                 {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert json.load(urllib.request.urlopen(req, timeout=10))["applied"] == 0
    own = stats.replay_days([{**e, "ticket_id": e["ticket"]} for e in events])
    with db.connection() as conn:
        rows = conn.execute("SELECT day, issued, finished, no_shows, services_done, waits, wait_minutes_total, "
                            "ratings, bad_ratings, cases_opened, good_ratings FROM day_figures "
                            "WHERE hall = 'QS' AND dim = 'hall' ORDER BY day").fetchall()
        assert {r[0].isoformat(): list(r[1:10]) for r in rows} == {
            d: [f[k] for k in ("issued", "finished", "no_shows", "services_done", "waits", "wait_minutes_total",
                               "ratings", "bad_ratings", "cases_opened")] for d, f in own.items()}
        good = sum(1 for e in events if e["type"] == "rating.recorded" and e["data"]["grade"] >= 3)
        assert sum(r[10] for r in rows) == good
        # The matters, departments and staff split the day without losing anything.
        for dim in ("service", "department"):
            total = conn.execute("SELECT sum(issued), sum(ratings) FROM day_figures WHERE dim = %s", [dim]).fetchone()
            assert tuple(total) == (sum(f["issued"] for f in own.values()), sum(f["ratings"] for f in own.values()))
        staff = conn.execute("SELECT sum(services_done), sum(ratings) FROM day_figures WHERE dim = 'staff'").fetchone()
        assert tuple(staff) == (sum(f["services_done"] for f in own.values()), sum(f["ratings"] for f in own.values()))
        names = {r[0] for r in conn.execute("SELECT name FROM day_figures WHERE dim = 'staff'")}
        assert names and all(n and not n.isdigit() for n in names)  # staff by name, not only number


class Browser:
    """A cookie-keeping HTTP client: a person's browser without JavaScript."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> tuple[int, str, bytes]:
        try:
            with self.opener.open(self.base + path, timeout=10) as r:
                return r.status, r.geturl(), r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.url, exc.read()

    def post(self, path: str, form: dict) -> tuple[int, str, bytes]:
        try:
            with self.opener.open(self.base + path, urllib.parse.urlencode(form).encode(), timeout=10) as r:
                return r.status, r.geturl(), r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.url, exc.read()

    def csrf(self, html: bytes) -> str:
        text = html.decode()
        start = text.index('name="csrf_token" value="') + len('name="csrf_token" value="')
        return text[start:text.index('"', start)]

    def sign_in(self, username: str, password: str) -> tuple[int, str, bytes]:
        _, _, page = self.get("/county/login")
        return self.post("/county/login", {"username": username, "password": password, "csrf_token": self.csrf(page)})


def test_centres_live_sign_in_csrf_roles_reports_exports_and_the_public_page(county):
    base, db, hall_db, token = county
    ship_all(base, hall_db, token)
    b = Browser(base)
    assert b.get("/county/")[1].endswith("/county/login?next=/county/")  # not signed in: to the sign-in page
    assert b.post("/county/login", {"username": "juzhang", "password": "director-pw-1"})[0] == 400  # no CSRF token
    assert b.sign_in("juzhang", "wrong-password")[0] == 401
    status, url, page = b.sign_in("juzhang", "director-pw-1")
    assert (status, url) == (200, base + "/county/")
    text = page.decode()
    assert "青石镇便民服务中心" in text and "白沙镇便民服务中心" in text and "未连接" in text
    live = json.loads(b.get("/county/live.json")[2])["halls"]
    qs = next(h for h in live if h["code"] == "QS")
    # Four citizens left waiting at 09:12 on the last day, since 09:08 at the latest; two windows open.
    assert (qs["day"], qs["waiting"], qs["windows_open"], qs["link"]) == ("2026-11-27", 4, 2, "online")
    assert qs["longest_wait_minutes"] >= 4 and qs["good_rate"] is not None
    assert sum(s["waiting"] for s in qs["services"]) == 4
    status, _, board = b.get("/county/halls/QS")
    assert status == 200 and "窗口" in board.decode() and "工作人员" in board.decode()
    # The figures are the 27th's, not today's (nothing shipped since): said so, not counted as 今日.
    assert "11月27日取号 12" in board.decode() and "今日取号" not in board.decode()
    assert "今日取号 <b>0</b>" in text
    status, _, rep = b.get("/county/reports?by=hall&from=2026-11-01&to=2026-11-30")
    assert status == 200 and "青石镇便民服务中心" in rep.decode()
    for odd in ("month=9999-12", "from=9999-12-31&to=9999-12-31", "from=2026-12-01&to=2026-11-01", "month=0001-01"):
        assert b.get(f"/county/reports/export.csv?{odd}")[0] == 422, odd  # not a 500
    assert b.get("/county/cases/QS%00/1")[0] == 400  # PostgreSQL holds no NUL: not a 500
    status, _, csv_body = b.get("/county/reports/export.csv?by=staff&month=2026-11")
    lines = csv_body.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("名称,所属中心") and len(lines) == 3  # header + two clerks
    status, _, xlsx = b.get("/county/reports/export.xlsx?by=hall&month=2026-11")
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(xlsx)).active
    assert sheet["A3"].value == "青石镇便民服务中心" and sheet["C3"].value == 24
    # Signing out needs the token too; then the cookie is worth nothing.
    assert b.post("/county/logout", {})[0] == 400
    b.post("/county/logout", {"csrf_token": b.csrf(page)})
    assert b.get("/county/")[1].startswith(base + "/county/login")
    # An auditor reads reports, not the live boards.
    a = Browser(base)
    assert a.sign_in("shenji", "auditor-pw-1")[1] == base + "/county/reports"
    assert a.get("/county/")[0] == 403
    # The public page: no sign-in, per matter, how fresh.
    status, _, wait = Browser(base).get("/wait")
    assert status == 200 and "青石镇便民服务中心" in wait.decode() and "秒前" in wait.decode()
    with psycopg.connect(db.url) as conn:  # the link goes quiet: the public page says the data is old
        conn.execute("UPDATE halls SET last_ingest_at = now() - interval '2 hours', "
                     "last_contact_at = now() - interval '2 hours' WHERE code = 'QS'")
    assert "网络中断" in Browser(base).get("/wait")[2].decode()


def test_the_centres_page_in_chromium_on_a_phone_and_a_desk(county):
    from playwright.sync_api import expect, sync_playwright
    from test_browser import CHROMIUM, LAUNCH_ARGS, PHONE

    base, db, hall_db, token = county
    ship_all(base, hall_db, token)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            page = browser.new_context(base_url=base, locale="zh-CN").new_page()
            page.goto("/county/login")
            page.fill("input[name=username]", "juzhang")
            page.fill("input[name=password]", "director-pw-1")
            page.click("button[type=submit]")
            expect(page.locator("tr[data-hall=QS] td.waiting")).to_have_text("4")
            expect(page.locator("tr[data-hall=QS] td.link")).to_have_text("在线")
            page.click("text=青石镇便民服务中心")
            expect(page.locator("h1")).to_contain_text("青石镇便民服务中心")
            phone = browser.new_context(base_url=base, viewport=PHONE).new_page()
            phone.goto("/wait")
            expect(phone.locator("section[data-hall=QS] .waiting")).to_have_text("4")
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"]  # phone-width: nothing scrolls sideways
        finally:
            browser.close()




def test_the_countys_today_is_in_its_own_zone_not_the_machines(pg_url, monkeypatch, tmp_path):
    """A county server in a container on UTC at 2031-03-31 17:30 UTC: in Beijing it is already
    1 April 01:30, so the reports' default period is April so far (not March, the machine's month);
    with timezone = "UTC" in its county.toml it is March. The clock is pinned: no dependence on when
    the test runs."""
    import time

    from county.settings import load_settings

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        clock = ManualClock(datetime(2031, 3, 31, 17, 30, tzinfo=ZoneInfo("UTC")))
        app = county_app(pg_url, clock=clock)
        db = app.config["DB"]
        users.add_user(db, "shenji", "李审计", "auditor", "auditor-pw-1")
        utc = tmp_path / "county.toml"
        utc.write_text('# the county office\ntimezone = "UTC"\n', encoding="utf-8")
        other = county_app(pg_url, migrate=False, settings=load_settings(utc), clock=clock)
        try:
            for flask_app, period in ((app, "2031-04-01 至 2031-04-01"), (other, "2031-03-01 至 2031-03-31")):
                client = flask_app.test_client()
                page = client.get("/county/login").get_data(as_text=True)
                csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
                client.post("/county/login", data={"username": "shenji", "password": "auditor-pw-1", "csrf_token": csrf})
                html = client.get("/county/reports").get_data(as_text=True)
                assert period in html, html
        finally:
            stop_county(other)
            stop_county(app)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_a_bad_county_toml_names_file_line_and_key_and_starts_nothing(tmp_path, capsys):
    from county.settings import CountySettings, load_or_exit, load_settings

    assert load_settings(None) == CountySettings() and CountySettings().timezone == "Asia/Shanghai"
    bad = tmp_path / "county.toml"
    bad.write_text('\n# zone\ntimezone = "Asia/Shangai"\ntimzone = "UTC"\n', encoding="utf-8")
    with pytest.raises(SystemExit) as stopped:
        load_or_exit(bad)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"{bad}:3: timezone: unknown time zone 'Asia/Shangai' (e.g. Asia/Shanghai)" in err
    assert f'{bad}:4: timzone: unknown key (did you mean "timezone"?)' in err
    bad.write_text("timezone = 8\n", encoding="utf-8")
    with pytest.raises(SystemExit):
        load_or_exit(bad)
    assert f"{bad}:1: timezone: must be a string" in capsys.readouterr().err
    bad.write_text('timezone = "UTC\n', encoding="utf-8")
    with pytest.raises(SystemExit):
        load_or_exit(bad)
    assert f"{bad}:1: TOML syntax error" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        load_or_exit(tmp_path / "missing.toml")
    assert "missing.toml: no such file" in capsys.readouterr().err
