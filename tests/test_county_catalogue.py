"""Catalogue releases (三级四同) with real processes: `hallq county serve` on real PostgreSQL, three
`hallq serve` halls (two townships, one village station). A release published with the county CLI
reaches every hall that is online and the hall that comes back later, each applying it live as one
configuration version by "county"; the fields a level may override stay the hall's across releases;
a local change the county forbids is refused; the drift view shows who runs what."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from liveserver import REPO, all_day_config, free_port, start_serve, wait_for
from test_county_replication import start_county, stop

from county import registry
from county.db import Database
from hallq.client import ApiClient, ApiError

pytestmark = pytest.mark.slow
ADMIN = "demo-qingshi-admin"

RELEASE = """
note = "{note}"
[overridable]
township = ["minutes", "windows"]
village = ["windows"]
[[matters]]
code = "S001"
name = "{name}"
category = "综合咨询"
case_kind = "即办"
promised_days = 0
minutes = 6
materials = ["居民身份证"]
[[matters]]
code = "S101"
name = "居民身份证申领换领"
category = "公安户政"
case_kind = "即办"
promised_days = 0
minutes = {s101_minutes}
materials = ["居民户口簿原件", "现场采集照片和指纹"]
"""


def publish(pg_url: str, path: Path, **values) -> None:
    path.write_text(RELEASE.format(**values), encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "hallq.cli", "county", "catalogue", "publish", "--db", pg_url,
                          str(path), "--by", "county-bureau"], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr


def service(admin: ApiClient, code: str) -> dict:
    return next(s for s in admin.get("/config")["hall"]["services"] if s["code"] == code)


def change(admin: ApiClient, edit) -> dict:
    hall = admin.get("/config")["hall"]
    edit(hall)
    return admin.post("/config", {"hall": hall, "note": "local"})


def test_a_release_reaches_online_and_returning_halls_overrides_stay_forbidden_ones_are_refused(tmp_path, pg_url):
    county_port = free_port()
    county_url = f"http://127.0.0.1:{county_port}"
    db = Database(pg_url)
    db.migrate()
    halls = {}
    for code, level in (("T1", "township"), ("V1", "village"), ("T2", "township")):
        token = registry.add_hall(db, code, f"{code} 服务中心", level=level)
        plain = all_day_config(REPO / "config" / "township.toml", tmp_path / f"{code}-plain.toml")
        linked = tmp_path / f"{code}.toml"
        linked.write_text(plain.read_text(encoding="utf-8") + f'\n[county]\nurl = "{county_url}"\ntoken = "{token}"\n',
                          encoding="utf-8")
        halls[code] = {"config": linked, "db": tmp_path / f"{code}.db", "port": free_port()}
    reader = registry.add_reader(db, "bureau")
    db.close()
    procs: list[subprocess.Popen] = []
    admins = {code: ApiClient(f"http://127.0.0.1:{h['port']}", ADMIN) for code, h in halls.items()}

    def start(code: str) -> None:
        h = halls[code]
        procs.append(start_serve(h["config"], h["db"], h["port"], "--catalogue-poll", "0.2"))

    def drift() -> dict:
        return {h["code"]: h for h in ApiClient(county_url, reader).get("/catalogue/drift")["halls"]}

    try:
        procs.append(start_county(pg_url, county_port))
        start("T1")
        start("V1")
        # Before any release, T1 sets its own minutes for S101 (its level may): an override to keep.
        change(admins["T1"], lambda hall: next(s for s in hall["services"] if s["code"] == "S101").update(minutes=17))
        publish(pg_url, tmp_path / "r1.toml", note="第 1 版", name="政策咨询（通用）", s101_minutes=9)
        for code in ("T1", "V1"):  # online halls take it live, as one version by "county"
            wait_for(lambda code=code: service(admins[code], "S001")["name"] == "政策咨询（通用）", f"{code} release 1")
            newest = admins[code].get("/config/versions")["versions"][0]
            assert (newest["actor"], newest["note"]) == ("county", "目录发布 1")
            assert service(admins[code], "S001")["materials"] == ["居民身份证"]
        # A township's own minutes stay (the file's 5 for S001 too: it never ran a release before).
        assert (service(admins["T1"], "S101")["minutes"], service(admins["T1"], "S001")["minutes"]) == (17, 5)
        assert service(admins["V1"], "S101")["minutes"] == 9  # a village takes the county's
        seen = wait_for(lambda: (d := drift())["T1"]["release"] == 1 and d["V1"]["release"] == 1 and d, "drift 1")
        assert seen["T1"]["overrides"]["minutes"] == {"S001": 5.0, "S101": 17.0}
        assert seen["V1"]["overrides"]["minutes"] == {}
        assert (seen["T2"]["release"], seen["T2"]["behind"]) == (None, 1)  # T2 is not running yet

        # What the county forbids is refused at the hall, naming the field; what it allows is taken.
        refusals = [("V1", "S101", {"minutes": 20}, "services[S101].minutes"),
                    ("T1", "S001", {"materials": ["户口簿"]}, "services[S001].materials"),
                    ("T1", "S001", {"name": "咨询"}, "services[S001].name")]
        for code, matter, edit, field in refusals:
            with pytest.raises(ApiError) as refused:
                change(admins[code], lambda hall, m=matter, e=edit: next(
                    s for s in hall["services"] if s["code"] == m).update(e))
            assert (refused.value.status, refused.value.body["error"], refused.value.body["field"]) == (
                403, "county_catalogue", field)
        change(admins["T1"], lambda hall: next(s for s in hall["services"] if s["code"] == "S001").update(minutes=4))

        # Release 2 reaches the online halls and the hall that comes back; overrides are kept.
        publish(pg_url, tmp_path / "r2.toml", note="第 2 版", name="政策咨询", s101_minutes=11)
        start("T2")
        for code in ("T1", "V1", "T2"):
            wait_for(lambda code=code: service(admins[code], "S001")["name"] == "政策咨询", f"{code} release 2")
        assert (service(admins["T1"], "S101")["minutes"], service(admins["T1"], "S001")["minutes"]) == (17, 4)
        assert service(admins["V1"], "S101")["minutes"] == 11
        assert service(admins["T2"], "S101")["minutes"] == 8  # its own from the file: a township may
        seen = wait_for(lambda: (d := drift()) and all(h["release"] == 2 for h in d.values()) and d, "drift 2")
        assert seen["T1"]["overrides"]["minutes"] == {"S001": 4.0, "S101": 17.0}
        assert all(h["behind"] == 0 for h in seen.values())
    finally:
        for p in procs:
            stop(p)


def test_the_county_refuses_a_catalogue_that_lets_a_level_override_what_三级四同_fixes(pg_url):
    from county.app import create_app, stop_app
    from county.serve import BackgroundCounty

    app = create_app(pg_url)
    server = BackgroundCounty(app).start()
    try:
        db = app.config["DB"]
        publisher = registry.add_reader(db, "bureau-catalogue", role="catalogue")
        reader = registry.add_reader(db, "bureau")
        matter = {"code": "S001", "name": "政策咨询", "category": "综合咨询", "case_kind": "即办", "promised_days": 0,
                  "minutes": 6, "materials": []}
        for body, field in (({"overridable": {"village": ["name"]}, "matters": [matter]}, "overridable.village[0]"),
                            ({"matters": [{**matter, "materials": "身份证"}]}, "matters[0].materials"),
                            ({"matters": [matter, matter]}, "matters")):
            with pytest.raises(ApiError) as refused:
                ApiClient(server.url, publisher).post("/catalogue/releases", body)
            assert (refused.value.status, refused.value.body["field"]) == (422, field)
        with pytest.raises(ApiError) as refused:
            ApiClient(server.url, reader).post("/catalogue/releases", {"matters": [matter]})
        assert refused.value.status == 403
        assert ApiClient(server.url, publisher).post("/catalogue/releases", {"matters": [matter]}) == {"release": 1}
        assert ApiClient(server.url, reader).get("/catalogue/releases")["releases"][0]["matters"] == 1
    finally:
        server.stop()
        stop_app(app)
