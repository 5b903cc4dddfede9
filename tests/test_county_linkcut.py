"""The link to the county cut in the middle of a step, with real processes: `hallq county serve` on
real PostgreSQL, a village station V1 and a township centre T1 as `hallq serve` processes, each
talking to the county through its own cuttable relay (county/link.py) that cuts itself at an exact
request — before the county sees it, or after the county answered and the answer is lost — and is
restored later; at some of those points the hall is SIGKILLed and restarted while still cut off.

(a) A catalogue release: each hall has fetched and applied it and the link goes down as it reports
so. Afterwards each hall runs the release as exactly one configuration version.
(b) A referral V1 → T1, sent → booked → served: V1's send reaches the county but not its answer;
T1 books and its `booked` step never reaches the county; the citizen is served at T1 while T1 is
cut off; V1 is cut off through booked and served, and the county's answer to it is cut midway. Afterwards the referral is served in both halls
and at the county, with one appointment, and each step once in both halls' logs and the county's.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from liveserver import REPO, all_day_config, free_port, start_serve, wait_for
from test_county_referral import ADMIN, KIOSK, RELEASE
from test_county_replication import hall_events, kill, start_county, stop

from county import registry
from county.db import Database
from county.link import Link
from hallq.client import ApiClient

pytestmark = pytest.mark.slow
STATUS = "POST /api/v1/catalogue/status"
POLL = ("--catalogue-poll", "0.2", "--referral-poll", "0.2", "--case-poll", "0.2")


def count(db: Path, sql: str, params: list) -> int:
    conn = sqlite3.connect(db.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchone()[0]
    finally:
        conn.close()


def release_versions(admin: ApiClient) -> list[dict]:
    return [v for v in admin.get("/config/versions")["versions"] if v["note"] == "目录发布 1"]


def test_a_release_and_a_referral_survive_the_link_cut_mid_step_and_a_killed_hall(tmp_path, pg_url):
    county_port = free_port()
    db = Database(pg_url)
    db.migrate()
    halls, links = {}, {}
    for code, level in (("V1", "village"), ("T1", "township")):
        token = registry.add_hall(db, code, f"{code} 服务中心", level=level)
        links[code] = Link(("127.0.0.1", county_port))
        plain = all_day_config(REPO / "config" / "township.toml", tmp_path / f"{code}-plain.toml")
        text = plain.read_text(encoding="utf-8").replace(  # the next 5-minute slot is open for check-in now
            "[appointments]\n", "[appointments]\ncheckin_before_minutes = 60\ncheckin_after_minutes = 60\n", 1).replace(
            "slot_minutes = 60", "slot_minutes = 5", 1)
        linked = tmp_path / f"{code}.toml"
        linked.write_text(text + f'\n[county]\nurl = "http://127.0.0.1:{links[code].port}"\ntoken = "{token}"\n',
                          encoding="utf-8")
        halls[code] = {"config": linked, "db": tmp_path / f"{code}.db", "port": free_port()}
    reader = registry.add_reader(db, "bureau")
    db.close()
    (tmp_path / "r1.toml").write_text(RELEASE, encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "hallq.cli", "county",
                          "catalogue", "publish", "--db", pg_url, str(tmp_path / "r1.toml"), "--by", "bureau"],
                         cwd=REPO, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    procs: dict[str, subprocess.Popen] = {}
    admins = {c: ApiClient(f"http://127.0.0.1:{h['port']}", ADMIN) for c, h in halls.items()}
    county = ApiClient(f"http://127.0.0.1:{county_port}", reader)

    def start(*codes: str) -> None:
        """Start the halls side by side (a start is mostly imports: two take little more than one)."""
        with ThreadPoolExecutor(len(codes)) as pool:
            for code, proc in zip(codes, pool.map(lambda c: start_serve(
                    halls[c]["config"], halls[c]["db"], halls[c]["port"], *POLL), codes), strict=True):
                procs[code] = proc

    def restart(*codes: str) -> None:
        for code in codes:
            kill(procs[code])
        start(*codes)

    try:
        procs["county"] = start_county(pg_url, county_port)
        # (a) Each hall fetches release 1 and applies it; the link goes as it reports so: V1's report
        # never reaches the county, T1's does but its answer is lost, and T1 is SIGKILLed right then.
        v1_cut = links["V1"].cut_at(STATUS)
        t1_cut = links["T1"].cut_at(STATUS, when="answered")
        start("V1", "T1")
        assert v1_cut.wait(30), "V1 reports release 1"
        assert t1_cut.wait(30), "T1 reports release 1"
        restart("T1")
        drift = {h["code"]: h["release"] for h in county.get("/catalogue/drift")["halls"]}
        assert drift == {"V1": None, "T1": 1}
        for code in ("V1", "T1"):  # cut off, each runs the release it applied
            assert [v["actor"] for v in release_versions(admins[code])] == ["county"], code
        for code in ("V1", "T1"):
            before = links[code].requests(STATUS)
            links[code].restore()
            wait_for(lambda code=code, before=before: links[code].requests(STATUS) > before,
                     f"{code} reports its release again")
        wait_for(lambda: all(h["release"] == 1 and h["behind"] == 0 for h in county.get("/catalogue/drift")["halls"]),
                 "both halls run release 1 at the county")
        for code in ("V1", "T1"):  # one version for release 1, not two
            assert len(release_versions(admins[code])) == 1, code

        # (b) V1 refers S101 up: the county records it, V1 never hears; V1 is SIGKILLed then. T1
        # books the citizen; its booked step never reaches the county; T1 is SIGKILLed then.
        v1_cut = links["V1"].cut_at("POST /api/v1/referrals", when="answered")
        t1_cut = links["T1"].cut_at(r"POST /api/v1/referrals/V1/[^/]+/step")
        sent = admins["V1"].post("/referrals", {"matter": "S101", "phone": "13912345678",
                                                "materials": ["居民户口簿原件"]})
        assert v1_cut.wait(30), "V1 sends the referral"
        assert t1_cut.wait(30), "T1 reports the booking"
        assert [(r["id"], r["state"]) for r in county.get("/referrals")["referrals"]] == [(sent["id"], "pending")]
        restart("V1", "T1")
        # T1 serves the citizen with its link still down.
        taken = admins["T1"].get("/referrals?direction=in")["referrals"]
        assert [(r["id"], r["state"], r["at_county"]) for r in taken] == [(sent["id"], "booked", False)]
        code = taken[0]["appointment"]
        ticket = ApiClient(f"http://127.0.0.1:{halls['T1']['port']}", KIOSK).post(
            "/tickets", {"service": "S101", "appointment": code})
        admins["T1"].post("/windows/7/login", {"staff": "2007"})
        assert admins["T1"].post("/windows/7/call-next", {})["ticket"]["code"] == ticket["code"]
        admins["T1"].post("/windows/7/finish", {"outcome": "done"})

        # T1's link back: the county learns booked, then served.
        links["T1"].restore()
        wait_for(lambda: county.get("/referrals")["referrals"][0]["state"] == "served", "served at the county")
        wait_for(lambda: all(r["at_county"] for r in admins["T1"].get("/referrals")["referrals"]), "T1 confirmed")
        # V1's link back, and down again midway through the county's answer on what became of its
        # referrals (the hall reads half a body), and back: it learns where its referral went, its
        # code and its outcome.
        v1_cut = links["V1"].cut_at("GET /api/v1/referrals/outgoing", when="midway")
        links["V1"].restore()
        assert v1_cut.wait(30), "V1 asks what became of its referral"
        links["V1"].restore()

        def v1_row() -> dict | None:
            rows = admins["V1"].get("/referrals?direction=out")["referrals"]
            return rows[0] if rows and rows[0]["state"] == "served" and rows[0]["at_county"] else None

        done = wait_for(v1_row, "V1 sees its referral served")
        assert (len(admins["V1"].get("/referrals")["referrals"]), done["to_hall"], done["appointment"],
                done["reason"]) == (1, "T1", code, "即办")
        assert count(halls["T1"]["db"], "SELECT COUNT(*) FROM appointments", []) == 1
        assert count(halls["T1"]["db"], "SELECT COUNT(*) FROM referrals", []) == 1
        steps = {"V1": ["referral.sent", "referral.booked", "referral.served"],
                 "T1": ["appointment.booked", "referral.booked", "referral.served"]}
        logged = {}
        for hall in ("V1", "T1"):
            logged[hall] = [e for e in hall_events(halls[hall]["db"])
                            if e["type"].startswith("referral.") or e["type"] == "appointment.booked"]
            assert [e["type"] for e in logged[hall]] == steps[hall], hall
        # The county holds each of those events once, as the halls logged them.
        for hall in ("V1", "T1"):
            last = logged[hall][-1]["id"]
            with psycopg.connect(pg_url, autocommit=True) as conn:
                wait_for(lambda hall=hall, last=last: conn.execute(
                    "SELECT high_water FROM halls WHERE code = %s", [hall]).fetchone()[0] >= last, f"{hall} shipped")
                at_county = conn.execute(
                    "SELECT event_id, type FROM events WHERE hall = %s AND (type LIKE 'referral.%%' OR "
                    "type = 'appointment.booked') ORDER BY event_id", [hall]).fetchall()
            assert at_county == [(e["id"], e["type"]) for e in logged[hall]], hall
        for code in ("V1", "T1"):  # and the release still ran once
            assert len(release_versions(admins[code])) == 1, code
    finally:
        failed = sys.exc_info()[0] is not None
        for link in links.values():
            link.close()
        for name, proc in procs.items():
            if failed and proc.poll() is None:  # what the processes logged, to see why
                proc.terminate()
                print(f"--- {name}\n{proc.communicate(timeout=10)[0].decode(errors='replace')[-4000:]}")
            stop(proc)
