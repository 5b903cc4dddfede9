"""The hall's configuration changed live through the API, over a real HTTP server: applied between
two engine actions without a restart, told on the event stream, versioned with who/when/diff,
restorable, exported and imported as TOML, and kept across a restart."""

from __future__ import annotations

import copy
import json
import re
import tomllib
import urllib.request

import pytest
from hallfactory import small_hall
from liveserver import serve_app

from hallq.client import ApiClient, ApiError
from hallq.config import parse_config
from server.app import create_app

KIOSK, CALLER, ADMIN, SUPERVISOR, W3 = "t-kiosk", "t-caller", "t-admin", "t-sup", "t-w3"


@pytest.fixture
def served(tmp_path):
    app = create_app(small_hall(all_day=True), tmp_path / "live.db", supervise=False)
    with serve_app(app) as url:
        yield url, app


def api(base, token=None) -> ApiClient:
    return ApiClient(base, token)


def refused(fn, *args, **kwargs) -> ApiError:
    with pytest.raises(ApiError) as err:
        fn(*args, **kwargs)
    return err.value


def service(hall: dict, code: str) -> dict:
    return next(s for s in hall["services"] if s["code"] == code)


def events_of(base, after: int = 0) -> list[dict]:
    request = urllib.request.Request(f"{base}/api/v1/events?once=1&last_event_id={after}",
                                     headers={"Authorization": "Bearer t-display"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        text = answer.read().decode()
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def test_changed_materials_reach_the_next_ticket_and_the_stream_with_no_restart(served):
    base, _ = served
    admin, kiosk = api(base, ADMIN), api(base, KIOSK)
    before = kiosk.post("/tickets", {"service": "S101"})
    current = admin.get("/config")
    hall = copy.deepcopy(current["hall"])
    service(hall, "S101")["materials"] = ["居民身份证", "户口簿"]
    version = admin.post("/config", {"hall": hall, "note": "新增户口簿", "based_on": current["version"]})
    assert version["version"] == current["version"] + 1 and version["actor"] == "admin"
    assert version["diff"] == ['services[S101].materials: ["居民身份证"] -> ["居民身份证", "户口簿"]']
    after = kiosk.post("/tickets", {"service": "S101"})
    assert api(base).get(f"/tickets/{after['id']}")["materials"] == ["居民身份证", "户口簿"]
    assert before["code"] == "A001" and after["code"] == "A002"  # numbering goes on: same day, same counter
    menu = api(base).get("/services")["services"]
    assert next(m for m in menu if m["code"] == "S101")["materials"] == ["居民身份证", "户口簿"]
    changed = [e for e in events_of(base) if e["type"] == "config.changed"]
    assert [e["data"]["version"] for e in changed] == [version["version"]]
    assert changed[0]["data"]["keys"] == ["services[S101].materials"]


def test_tickets_already_issued_keep_the_name_and_materials_they_were_issued_with(tmp_path):
    """A live change reaches the next ticket only: the earlier ticket's page (API and /t/<id>) keeps
    what was printed on it, also after a restart (it is on the ticket's row)."""
    db = tmp_path / "kept.db"
    app = create_app(small_hall(all_day=True), db, supervise=False)
    with serve_app(app) as base:
        admin, kiosk = api(base, ADMIN), api(base, KIOSK)
        before = kiosk.post("/tickets", {"service": "S101"})
        current = admin.get("/config")
        hall = copy.deepcopy(current["hall"])
        old_name = service(hall, "S101")["name"]
        service(hall, "S101").update(name="新名称事项", materials=["居民身份证", "户口簿"])
        admin.post("/config", {"hall": hall, "note": "改名并新增户口簿", "based_on": current["version"]})
        after = kiosk.post("/tickets", {"service": "S101"})
        page = api(base).get(f"/tickets/{before['id']}")
        assert page["materials"] == ["居民身份证"] and page["matter"]["name"] == old_name
        fresh = api(base).get(f"/tickets/{after['id']}")
        assert fresh["materials"] == ["居民身份证", "户口簿"] and fresh["matter"]["name"] == "新名称事项"
        with urllib.request.urlopen(f"{base}/t/{before['id']}", timeout=10) as answer:
            html = answer.read().decode()
        assert "户口簿" not in html and old_name in html
    app = create_app(small_hall(all_day=True), db, supervise=False)
    with serve_app(app) as base:
        assert api(base).get(f"/tickets/{before['id']}")["materials"] == ["居民身份证"]


def test_the_paper_lists_the_materials_the_ticket_was_issued_with(tmp_path):
    """A change that lands while a citizen is on the kiosk's confirm screen: the ticket printed on
    tap lists what the server issued it with (the ticket's own materials, as /t/<id> shows them),
    not the kiosk's menu from before the change."""
    from kioskrig import Rig

    from drivers.sim import wait_for

    app = create_app(small_hall(all_day=True), tmp_path / "paper.db", supervise=False)
    with serve_app(app) as base:
        rig = Rig(base)
        try:
            rig.tap(("category", "社保医保"))
            rig.tap(("matter", "S101"))
            hall = api(base, ADMIN).get("/config")["hall"]
            service(hall, "S101")["materials"] = ["居民身份证", "社保卡申领表"]
            api(base, ADMIN).post("/config", {"hall": hall, "note": "申领表"})
            rig.tap(("confirm",))
            rig.settle()
            assert wait_for(lambda: rig.sim.jobs and rig.sim.jobs[-1].cut, timeout=5)
            assert "2. 社保卡申领表" in rig.sim.jobs[-1].lines
            ticket = api(base).get(f"/tickets/{rig.app.issued.ticket['id']}")
            assert ticket["materials"] == ["居民身份证", "社保卡申领表"]
        finally:
            rig.close()


def test_a_new_window_with_a_skill_calls_that_matter_at_once(served):
    base, _ = served
    admin, kiosk, caller = api(base, ADMIN), api(base, KIOSK), api(base, CALLER)
    ticket = kiosk.post("/tickets", {"service": "S301"})
    hall = admin.get("/config")["hall"]
    hall["windows"].append({"number": 6, "name": "不动产二号窗口", "kind": "domain", "services": {"S301": "primary"}})
    admin.post("/config", {"hall": hall})
    caller.window(6, "login", staff="1006")
    called = caller.window(6, "call-next")
    assert called["ticket"]["code"] == ticket["code"] and called["window"]["number"] == 6


def test_a_deactivated_staff_member_cannot_sign_in_and_keeps_their_name_in_the_record(served):
    base, _ = served
    admin, kiosk, caller = api(base, ADMIN), api(base, KIOSK), api(base, CALLER)
    caller.window(1, "login", staff="1001")
    kiosk.post("/tickets", {"service": "S101"})
    caller.window(1, "call-next")
    caller.window(1, "finish", outcome="done")
    caller.window(1, "logout")
    hall = admin.get("/config")["hall"]
    [member] = [s for s in hall["staff"] if s["number"] == "1001"]
    assert member["active"] is True
    member["active"] = False  # 停用: left the hall
    version = admin.post("/config", {"hall": hall, "note": "张晓梅调离"})
    assert "staff[1001].active: true -> false" in version["diff"]
    err = refused(caller.window, 1, "login", staff="1001")
    assert (err.status, err.body["error"], err.body["field"]) == (409, "staff_inactive", "staff")
    assert "已停用" in err.body["message"]
    served_by = admin.get("/reports?period=day&by=staff")["rows"]
    assert any(r["name"].startswith("张晓梅") for r in served_by)  # history keeps the name
    member["active"] = True
    admin.post("/config", {"hall": hall, "note": "返岗"})
    assert caller.window(1, "login", staff="1001")["result"] == "accepted"


def test_a_bad_change_names_every_key_at_fault_and_changes_nothing(served):
    base, _ = served
    admin = api(base, ADMIN)
    current = admin.get("/config")
    hall = copy.deepcopy(current["hall"])
    service(hall, "S101")["minutes"] = 0
    hall["windows"][0]["services"]["S777"] = "primary"
    del hall["windows"][1]["name"]
    err = refused(admin.post, "/config", {"hall": hall})
    assert (err.status, err.code) == (422, "invalid_config")
    assert [{k: p[k] for k in ("field", "message")} for p in err.body["problems"]] == [
        {"field": "services[0].minutes", "message": "must be more than 0"},
        {"field": "windows[0].services.S777", "message": "unknown service"},
        {"field": "windows[1].name", "message": "required key is missing"},
    ]
    assert all(p["message_zh"] for p in err.body["problems"])  # the editor shows these at the field
    assert err.body["field"] == "services[0].minutes"
    assert admin.get("/config") == current and len(admin.get("/config/versions")["versions"]) == 1


def test_restore_an_older_version_and_read_the_audit(served):
    base, _ = served
    admin = api(base, ADMIN)
    hall = admin.get("/config")["hall"]
    service(hall, "S102")["name"] = "医保关系转移"
    admin.post("/config", {"hall": hall, "note": "改名"})
    restored = admin.post("/config/versions/1/restore", {})
    assert restored["version"] == 3 and restored["note"] == "恢复第 1 版"
    assert restored["diff"] == ['services[S102].name: "医保关系转移" -> "医保异地就医备案"']
    assert service(admin.get("/config")["hall"], "S102")["name"] == "医保异地就医备案"
    versions = admin.get("/config/versions")["versions"]
    assert [(v["version"], v["actor"]) for v in versions] == [(3, "admin"), (2, "admin"), (1, "file:memory")]
    assert admin.get("/config/versions/2")["document"]["services"][1]["name"] == "医保关系转移"
    assert refused(admin.post, "/config/versions/99/restore", {}).status == 404


def test_only_an_admin_may_read_or_change_it(served):
    base, _ = served
    hall = api(base, ADMIN).get("/config")["hall"]
    for token in (SUPERVISOR, W3, KIOSK, CALLER):
        assert refused(api(base, token).get, "/config").status == 403
        assert refused(api(base, token).post, "/config", {"hall": hall}).status == 403
    assert refused(api(base).post, "/config", {"hall": hall}).status == 401


def test_what_is_in_use_stays_and_a_stale_change_is_refused(served):
    base, _ = served
    admin, kiosk = api(base, ADMIN), api(base, KIOSK)
    kiosk.post("/tickets", {"service": "S102"})
    hall = admin.get("/config")["hall"]
    without = copy.deepcopy(hall)
    without["services"] = [s for s in without["services"] if s["code"] != "S102"]
    for w in without["windows"]:
        w["services"].pop("S102", None)
    err = refused(admin.post, "/config", {"hall": without})
    assert (err.status, err.code, err.body["field"]) == (409, "in_use", "services[S102]")
    hall["hall"]["notice"] = "今日系统升级"
    admin.post("/config", {"hall": hall, "based_on": 1})
    err = refused(admin.post, "/config", {"hall": hall | {"hall": {**hall["hall"], "notice": "x"}}, "based_on": 1})
    assert (err.status, err.code) == (409, "stale")


def test_a_one_thing_ticket_half_way_goes_through_the_steps_it_was_issued_with(served):
    """一件事 steps changed live while a citizen is at its first step: the ticket goes on through the
    steps its paper counted (the new list is for the next tickets: indexed by `step`, it sent Y001
    back to 企业设立登记 and never to 税务登记), and a step still ahead of it cannot be removed."""
    base, _ = served
    admin, kiosk, caller = api(base, ADMIN), api(base, KIOSK), api(base, CALLER)
    ticket = kiosk.post("/tickets", {"service": "B01"})
    caller.window(3, "login", staff="1003")
    assert caller.window(3, "call-next")["ticket"]["code"] == ticket["code"]
    hall = admin.get("/config")["hall"]
    without = copy.deepcopy(hall)
    without["services"] = [s for s in without["services"] if s["code"] != "S202"]
    without["bundles"][0]["steps"] = ["S201", "S101"]
    for w in without["windows"]:
        w["services"].pop("S202", None)
    err = refused(admin.post, "/config", {"hall": without})
    assert (err.status, err.code, err.body["field"]) == (409, "in_use", "services[S202]")
    hall["bundles"][0]["steps"] = ["S202", "S201"]
    admin.post("/config", {"hall": hall, "note": "先税务后设立"})
    moved = caller.window(3, "finish", outcome="done")["ticket"]
    assert (moved["state"], moved["service"]["code"]) == ("waiting", "S202")
    assert [s["code"] for s in moved["step"]["steps"]] == ["S201", "S202"] and moved["step"]["index"] == 2
    caller.window(3, "call-next")
    assert caller.window(3, "finish", outcome="done")["ticket"]["state"] == "finished"
    assert kiosk.post("/tickets", {"service": "B01"})["step"]["steps"][0]["code"] == "S202"  # the next ticket's


def test_a_served_ticket_outlives_its_matter(served):
    """Once nobody waits for it a matter may be removed; the tickets served for it keep their page
    (the QR code on the paper) and 补充评价 — they answered 500 (KeyError) when it had gone."""
    base, _ = served
    admin, kiosk, caller = api(base, ADMIN), api(base, KIOSK), api(base, CALLER)
    ticket = kiosk.post("/tickets", {"service": "S301"})
    caller.window(4, "login", staff="1004")
    caller.window(4, "call-next")
    caller.window(4, "finish", outcome="done")
    caller.window(4, "logout")
    hall = admin.get("/config")["hall"]
    hall["services"] = [s for s in hall["services"] if s["code"] != "S301"]
    hall["windows"] = [w for w in hall["windows"] if w["number"] != 4]
    for w in hall["windows"]:
        w["services"].pop("S301", None)
    admin.post("/config", {"hall": hall, "note": "不动产登记迁出"})
    page = api(base).get(f"/tickets/{ticket['id']}")
    assert (page["state"], page["service"]["name"], page["matter"]["name"]) == ("finished", "不动产登记", "不动产登记")
    assert page["rating"]["can_rate"] is True
    with urllib.request.urlopen(f"{base}/t/{ticket['id']}", timeout=10) as answer:
        assert "不动产登记" in answer.read().decode()
    rated = api(base).post("/ratings", {"ticket": ticket["id"], "grade": 5, "channel": "web"})
    assert rated["rated"] is True


def test_toml_export_and_import_of_the_whole_hall(served):
    base, _ = served
    admin = api(base, ADMIN)
    request = urllib.request.Request(f"{base}/api/v1/config/export", headers={"Authorization": "Bearer t-admin"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("application/toml")
        text = answer.read().decode()
    assert parse_config(text).services["S101"].materials == ("居民身份证",)
    edited = text.replace('name = "税务登记"', 'name = "税务信息确认"')
    assert edited != text
    version = admin.post("/config/import", {"toml": edited, "note": "从文件导入"})
    assert version["diff"] == ['services[S202].name: "税务登记" -> "税务信息确认"']
    bad = re.sub(r"\nminutes = [0-9.]+\n", "\nminutes = -1\n", edited, count=1)
    err = refused(admin.post, "/config/import", {"toml": bad})
    [problem] = err.body["problems"]
    assert problem["message"] == "must be more than 0" and problem["line"] == bad.splitlines().index("minutes = -1") + 1


def test_changes_survive_a_restart_and_a_changed_file_wins(tmp_path):
    db = tmp_path / "restart.db"
    hall = small_hall(all_day=True)
    with serve_app(create_app(hall, db, supervise=False)) as base:
        admin = api(base, ADMIN)
        doc = admin.get("/config")["hall"]
        service(doc, "S101")["minutes"] = 12
        admin.post("/config", {"hall": doc})
    with serve_app(create_app(hall, db, supervise=False)) as base:  # the same file: the saved version runs
        assert service(api(base, ADMIN).get("/config")["hall"], "S101")["minutes"] == 12
    import dataclasses

    changed = dataclasses.replace(hall, name="测试县政务服务中心（新）")
    with serve_app(create_app(changed, db, supervise=False)) as base:  # the file changed: it runs, as version 3
        admin = api(base, ADMIN)
        current = admin.get("/config")
        assert current["version"] == 3 and current["hall"]["hall"]["name"] == "测试县政务服务中心（新）"
        assert service(current["hall"], "S101")["minutes"] == 8
        assert admin.get("/config/versions")["versions"][0]["diff"][0].startswith("hall.name:")


def test_a_file_edited_while_down_waits_for_the_tickets_it_would_strand(tmp_path):
    """The file changed before a restart (the director edited it, then the power went) and removes a
    matter and a window a citizen is at: as a live change would be, it is not applied while they
    are live (it ran, and issuing, /services, /stats answered 500 on a KeyError); the hall runs its
    saved version, and the file runs at the first start once they are done."""
    import dataclasses

    db = tmp_path / "edited.db"
    hall = small_hall(all_day=True)
    app = create_app(hall, db, supervise=False)
    engine = app.config["ENGINE"]
    engine.login(4, "1004")
    engine.issue("S301")
    engine.call_next(4)
    services = {code: s for code, s in hall.services.items() if code != "S301"}
    windows = {n: dataclasses.replace(w, services={c: x for c, x in w.services.items() if c != "S301"})
               for n, w in hall.windows.items() if n != 4}
    edited = dataclasses.replace(hall, services=services, windows=windows)
    app = create_app(edited, db, supervise=False)
    web = app.test_client()
    assert web.post("/api/v1/tickets", json={"service": "S101"}, headers={"Authorization": "Bearer t-kiosk"}).status_code == 201
    assert web.get("/api/v1/stats/today", headers={"Authorization": "Bearer t-display"}).status_code == 200
    assert 4 in app.config["ENGINE"].config.windows
    held = [a for a in app.config["ALERTS"].active() if a["kind"] == "config_held"]  # the director is told
    assert len(held) == 1 and "配置文件未生效" not in held[0]["message"] and "services[S301]" in held[0]["message"]
    app.config["ENGINE"].finish(4)
    app.config["ENGINE"].logout(4)
    app = create_app(edited, db, supervise=False)
    assert 4 not in app.config["ENGINE"].config.windows and "S301" not in app.config["ENGINE"].config.services
    assert not [a for a in app.config["ALERTS"].active() if a["kind"] == "config_held"]  # applied: cleared


def test_the_document_round_trips_through_toml():
    from hallq.config import load_config
    from hallq.hall_document import document_of, to_toml

    hall = load_config("config/demo-hall.toml")
    again = parse_config(to_toml(document_of(hall)))
    assert document_of(again) == document_of(hall)
    assert tomllib.loads(to_toml(document_of(hall)))["rules"]["alerts"]["deadline_days"] == [1.0, 0.0, 0.0]


def wait_for(condition, seconds: float = 15.0) -> bool:
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_the_kiosk_and_the_hall_display_learn_a_change_from_the_event_stream(tmp_path):
    """Not at their next periodic refresh (an hour away here): from config.changed, within seconds."""
    import kioskrig  # noqa: F401  (headless pygame)
    from liveserver import serve_app

    from caller.board import HallBoard
    from hallq.fonts import find_cjk_font
    from kiosk.app import KioskApp
    from kiosk.printing import TicketOutput
    from kiosk.ui import KioskUI

    app = create_app(small_hall(all_day=True), tmp_path / "stream.db", supervise=False)
    with serve_app(app) as base:
        kiosk = KioskApp(ApiClient(base, KIOSK), TicketOutput(None), public_url=base)
        ui = KioskUI(kiosk, find_cjk_font(), size=(540, 960), fullscreen=False, refresh_seconds=3600).start()
        board = HallBoard(ApiClient(base, "t-display"), refresh_seconds=0.1).follow()
        try:
            assert wait_for(lambda: board.snapshot().notice == "")
            assert kiosk.menu.matter("S101")["materials"] == ["居民身份证"]
            admin = api(base, ADMIN)
            hall = admin.get("/config")["hall"]
            service(hall, "S101")["materials"] = ["居民身份证", "社保卡申领表"]
            hall["hall"]["notice"] = "今日延时服务至19:00"
            admin.post("/config", {"hall": hall})
            assert wait_for(lambda: kiosk.menu.matter("S101")["materials"] == ["居民身份证", "社保卡申领表"])
            assert wait_for(lambda: board.snapshot().notice == "今日延时服务至19:00")
        finally:
            board.stop()
            ui.close()


def test_a_change_lands_between_two_actions_while_tickets_are_issued(tmp_path):
    """Issuing from four threads while the configuration changes 20 times: every issue sees one
    whole configuration (no error, no number twice), and the last change is what runs."""
    import dataclasses
    import threading

    from server.config_versions import ConfigBook
    from server.engine import Engine
    from server.store import Store

    hall = small_hall(all_day=True)
    engine = Engine(hall, Store(tmp_path / "race.db"))
    book = ConfigBook(engine.store, engine.now)
    book.start(hall)
    errors: list[BaseException] = []
    codes: list[str] = []

    def issue() -> None:
        try:
            for _ in range(25):
                codes.append(engine.issue("S101").code)
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=issue) for _ in range(4)]
    for t in threads:
        t.start()
    from hallq.hall_document import document_of

    for i in range(20):
        doc = document_of(engine.config)
        service(doc, "S101")["materials"] = ["居民身份证", f"第{i}版材料"]
        book.change(engine, doc, "admin", f"change {i}")
    for t in threads:
        t.join(30)
    assert errors == [] and len(codes) == 100 and len(set(codes)) == 100
    assert engine.config.services["S101"].materials == ("居民身份证", "第19版材料")
    assert [v["version"] for v in book.versions(limit=1)] == [21]
    assert dataclasses.replace(engine.config, services=hall.services).windows == hall.windows
