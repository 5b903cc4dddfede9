"""差评 cases kept by the county, with real processes: `hallq county serve` on real PostgreSQL and a
township centre T1 (`hallq serve`, [county] cases = "county"). A bad rating at T1 opens its case;
T1 refuses to step it itself; the county's supervisor walks it at the county pages by the hall's
rules (no close before the call-back's answer), a director may only look; every step comes back to
T1's case (read-only there) exactly once, and T1's own log, shipped up, shows the county's steps."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from liveserver import REPO, all_day_config, free_port, start_serve, wait_for
from test_county_pages import Browser
from test_county_replication import hall_events, start_county, stop

from county import registry, users
from county.db import Database
from hallq.client import ApiClient, ApiError

pytestmark = pytest.mark.slow
BEIJING = ZoneInfo("Asia/Shanghai")


def test_the_county_walks_a_halls_bad_rating_case_and_the_steps_flow_back(tmp_path, pg_url):
    county_port, hall_port = free_port(), free_port()
    county_url = f"http://127.0.0.1:{county_port}"
    db = Database(pg_url)
    db.migrate()
    token = registry.add_hall(db, "T1", "青石镇便民服务中心", level="township")
    reader = registry.add_reader(db, "bureau")
    users.add_user(db, "ducha", "赵督查", "supervisor", "supervisor-pw-1")
    users.add_user(db, "juzhang", "王局长", "director", "director-pw-1")
    db.close()
    plain = all_day_config(REPO / "config" / "township.toml", tmp_path / "plain.toml")
    config = tmp_path / "T1.toml"
    config.write_text(plain.read_text(encoding="utf-8")
                      + f'\n[county]\nurl = "{county_url}"\ntoken = "{token}"\ncases = "county"\n', encoding="utf-8")
    procs: list[subprocess.Popen] = []
    hall = ApiClient(f"http://127.0.0.1:{hall_port}", "demo-qingshi-admin")
    try:
        # The county machine on UTC, its database sessions too: the steps' times are still Beijing's.
        (tmp_path / "county.toml").write_text('timezone = "Asia/Shanghai"\n', encoding="utf-8")
        procs.append(start_county(pg_url, county_port, "--config", str(tmp_path / "county.toml"),
                                  env={"TZ": "UTC", "PGTZ": "UTC"}))
        procs.append(start_serve(config, tmp_path / "T1.db", hall_port, "--case-poll", "0.2"))
        ApiClient(f"http://127.0.0.1:{hall_port}", "demo-qingshi-kiosk-1").post("/tickets", {"service": "S101"})
        hall.post("/windows/7/login", {"staff": "2007"})
        hall.post("/windows/7/call-next", {})
        hall.post("/windows/7/finish", {"outcome": "done"})
        ApiClient(f"http://127.0.0.1:{hall_port}", "demo-qingshi-caller").post(
            "/ratings", {"grade": 1, "channel": "evaluator", "window": 7, "reason": "attitude"})
        case = wait_for(lambda: next(iter(hall.get("/cases")["cases"]), None), "T1 opens the case")
        assert case["county_owned"] and case["actions"] == []
        with pytest.raises(ApiError) as refused:  # the hall's own staff cannot step a county-kept case
            hall.post(f"/cases/{case['id']}/call-back", {"note": "已联系", "contact": "phone", "answer": "satisfied"})
        assert (refused.value.status, refused.value.code) == (409, "county_owned")

        county = ApiClient(county_url, reader)
        seen = wait_for(lambda: next((c for c in county.get("/cases")["cases"] if c["owner"] == "county"), None),
                        "the county holds T1's case")
        assert (seen["hall"], seen["case"], seen["state"], seen["grade_name"]) == ("T1", case["id"], "open", "非常不满意")
        page = f"/county/cases/T1/{case['id']}"

        director = Browser(county_url)
        director.sign_in("juzhang", "director-pw-1")
        status, _, html = director.get(page)
        assert status == 200 and "下一步" not in html.decode()  # a director looks, does not step
        assert director.post(page, {"action": "call-back", "note": "x", "csrf_token": director.csrf(html)})[0] == 403

        b = Browser(county_url)
        b.sign_in("ducha", "supervisor-pw-1")
        _, _, html = b.get(page)
        assert "回访核实" in html.decode() and "办结" not in html.decode().split("下一步")[1]
        assert b.post(page, {"action": "call-back", "note": "x"})[0] == 400  # no CSRF token
        status, _, html = b.post(page, {"action": "call-back", "note": "电话联系", "contact": "phone",
                                        "csrf_token": b.csrf(html)})
        assert status == 422 and "回访" in html.decode()  # the citizen's answer is missing: the hall's rule
        steps = [("call-back", {"contact": "phone", "answer": "dissatisfied"}, "电话联系群众，对态度不满"),
                 ("rectify", {}, "窗口人员已谈话提醒并复训"), ("close", {}, "整改完毕，办结")]
        for action, extra, note in steps:
            status, url, html = b.post(page, {"action": action, "note": note, "csrf_token": b.csrf(html), **extra})
            assert status == 200 and url.endswith(page), html.decode()
        assert b.post(page, {"action": "close", "note": "again", "csrf_token": b.csrf(html)})[0] == 422  # closed
        shown = [datetime.strptime(t, "%Y-%m-%d %H:%M").replace(tzinfo=BEIJING)
                 for t in re.findall(r"· (\d{4}-\d\d-\d\d \d\d:\d\d)<br>", html.decode())]
        assert len(shown) == 3 and all(abs(datetime.now(BEIJING) - t) < timedelta(minutes=5) for t in shown), shown

        def back() -> dict | None:
            one = hall.get(f"/cases/{case['id']}")
            return one if one["state"] == "closed" else None

        done = wait_for(back, "the county's steps reach T1")
        assert [(s["action"], s["by"]) for s in done["steps"]] == [
            ("open", "system"), ("call-back", "county:ducha"), ("rectify", "county:ducha"), ("close", "county:ducha")]
        assert (done["callback_answer"], done["resolution"], done["actions"]) == ("dissatisfied", "rectified", [])
        assert done["steps"][1]["note"] == "电话回访，群众表示不满意：电话联系群众，对态度不满"
        wait_for(lambda: next((c for c in county.get("/cases")["cases"] if c["synced"] and c["hall_state"] == "closed"),
                              None), "T1's own log, shipped up, shows the case closed")
        status, _, html = b.get("/county/supervision")  # 电子监察 page renders (its rules: test_county_supervision)
        assert status == 200 and "县级告警" in html.decode()
        updates = [e for e in hall_events(tmp_path / "T1.db") if e["type"] == "case.updated"]
        assert [(e["actor"], e["data"]["state"]) for e in updates] == [
            ("county:ducha", "called_back"), ("county:ducha", "rectified"), ("county:ducha", "closed")]
    finally:
        for p in procs:
            stop(p)
