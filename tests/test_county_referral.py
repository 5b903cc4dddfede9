"""Cross-level referral (帮办代办 / 就近办) with real processes: `hallq county serve` on real
PostgreSQL, a village station V1 and a township centre T1 as `hallq serve` processes. V1 refers a
catalogue matter up; the county routes it to T1 (the level above that offers it); T1 books an
appointment; V1 gets the code; the citizen's ID card finds it at T1's kiosk and the code checks them
in; T1's window serves them (and, for a second referral, calls them in vain); each outcome returns
to V1 with its reason; every step is an event in both halls' logs."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date

import pytest
from liveserver import REPO, all_day_config, free_port, start_serve, wait_for
from test_county_replication import hall_events, start_county, stop

from county import registry
from county.db import Database
from drivers.sim.idcard import id_number
from hallq.client import ApiClient

pytestmark = pytest.mark.slow
ADMIN, KIOSK = "demo-qingshi-admin", "demo-qingshi-kiosk-1"
CITIZEN_ID = id_number("420106", date(1980, 5, 17), 318)

RELEASE = """
note = "第 1 版"
[[matters]]
code = "S101"
name = "居民身份证申领换领"
category = "公安户政"
case_kind = "即办"
promised_days = 0
minutes = 8
materials = ["居民户口簿原件", "现场采集照片和指纹"]
"""


def test_a_referral_goes_up_is_booked_checked_in_and_its_outcome_comes_back(tmp_path, pg_url):
    county_port = free_port()
    county_url = f"http://127.0.0.1:{county_port}"
    db = Database(pg_url)
    db.migrate()
    halls = {}
    for code, level in (("V1", "village"), ("T1", "township")):
        token = registry.add_hall(db, code, f"{code} 服务中心", level=level)
        plain = all_day_config(REPO / "config" / "township.toml", tmp_path / f"{code}-plain.toml")
        text = plain.read_text(encoding="utf-8").replace(  # the next slot is open for check-in now
            "[appointments]\n", "[appointments]\ncheckin_before_minutes = 60\ncheckin_after_minutes = 60\n", 1).replace(
            "slot_minutes = 60", "slot_minutes = 5", 1)  # today's next slot is at most 5 min away, even at 22:30
        linked = tmp_path / f"{code}.toml"
        linked.write_text(text + f'\n[county]\nurl = "{county_url}"\ntoken = "{token}"\n', encoding="utf-8")
        halls[code] = {"config": linked, "db": tmp_path / f"{code}.db", "port": free_port()}
    reader = registry.add_reader(db, "bureau")
    db.close()
    (tmp_path / "r1.toml").write_text(RELEASE, encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "hallq.cli", "county", "catalogue", "publish", "--db", pg_url,
                          str(tmp_path / "r1.toml"), "--by", "bureau"], cwd=REPO, capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    procs: list[subprocess.Popen] = []
    v1, t1 = (ApiClient(f"http://127.0.0.1:{halls[c]['port']}", ADMIN) for c in ("V1", "T1"))
    kiosk = ApiClient(f"http://127.0.0.1:{halls['T1']['port']}", KIOSK)
    try:
        procs.append(start_county(pg_url, county_port))
        for code in ("V1", "T1"):
            procs.append(start_serve(halls[code]["config"], halls[code]["db"], halls[code]["port"],
                                     "--catalogue-poll", "0.2", "--referral-poll", "0.2"))
        county = ApiClient(county_url, reader)
        wait_for(lambda: all(h["release"] == 1 for h in ApiClient(county_url, reader).get("/catalogue/drift")["halls"]),
                 "both halls run release 1")

        # V1's window refers S101 up: the citizen has the 户口簿 but not yet the photo.
        sent = v1.post("/referrals", {"matter": "S101", "phone": "13912345678", "materials": ["居民户口簿原件"],
                                      "sms": True, "id_number": CITIZEN_ID})
        assert (sent["state"], sent["phone"]) == ("pending", "139****5678")
        assert sent["materials"] == [{"name": "居民户口簿原件", "checked": True},
                                     {"name": "现场采集照片和指纹", "checked": False}]

        def ours(state: str) -> dict | None:
            found = [r for r in v1.get("/referrals?direction=out")["referrals"] if r["id"] == sent["id"]]
            return found[0] if found and found[0]["state"] == state else None

        booked = wait_for(lambda: ours("booked"), "V1 sees the appointment booked at T1")
        assert booked["to_hall"] == "T1" and re.fullmatch(r"[0-9]{8}", booked["appointment"])
        taken = t1.get("/referrals?direction=in")["referrals"][0]
        assert (taken["from_hall"], taken["appointment"], taken["materials"]) == ("V1", booked["appointment"],
                                                                                  sent["materials"])
        # At T1's kiosk the ID card finds the appointment; its code checks the citizen in.
        card = kiosk.post("/citizens/today", {"id_number": CITIZEN_ID})
        assert [a["code"] for a in card["appointments"]] == [booked["appointment"]]
        ticket = kiosk.post("/tickets", {"service": "S101", "appointment": booked["appointment"]})
        t1.post("/windows/7/login", {"staff": "2007"})
        called = t1.post("/windows/7/call-next", {})
        assert called["ticket"]["code"] == ticket["code"]
        t1.post("/windows/7/finish", {"outcome": "done"})
        served = wait_for(lambda: ours("served"), "the outcome reaches V1")
        assert served["reason"] == "即办" and served["appointment"] == booked["appointment"]

        # A second citizen is booked, checks in, and does not come when called: no_show returns.
        second = v1.post("/referrals", {"matter": "S101", "phone": "13900000002", "materials": []})
        code2 = wait_for(lambda: next((r["appointment"] for r in v1.get("/referrals?direction=out")["referrals"]
                                       if r["id"] == second["id"] and r["state"] == "booked"), None), "second booked")
        kiosk.post("/tickets", {"service": "S101", "appointment": code2})
        t1.post("/windows/7/call-next", {})
        t1.post("/windows/7/no-show", {})
        missed = wait_for(lambda: next((r for r in v1.get("/referrals?direction=out")["referrals"]
                                        if r["id"] == second["id"] and r["state"] == "no_show"), None), "no-show back")
        assert missed["reason"] == "叫号未到"

        # The county's record: routed, closed, without phone or code; every step in both halls' logs.
        rows = {r["id"]: r for r in county.get("/referrals")["referrals"]}
        assert (rows[sent["id"]]["to_hall"], rows[sent["id"]]["state"]) == ("T1", "served")
        assert "phone" not in rows[sent["id"]] and "appointment" not in rows[sent["id"]]
        wait_for(lambda: all(r["at_county"] for r in t1.get("/referrals")["referrals"]), "T1 steps confirmed")
        for code, steps in (("V1", ["referral.sent", "referral.booked", "referral.served"]),
                            ("T1", ["referral.booked", "referral.served"])):
            logged = [e for e in hall_events(halls[code]["db"])
                      if e["type"].startswith("referral.") and e["data"].get("referral") == sent["id"]]
            assert [e["type"] for e in logged] == steps, code
    finally:
        for p in procs:
            stop(p)
