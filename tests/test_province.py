"""The provincial 好差评 platform link: every rating and 差评 case step reaches the simulated
platform once, through outages, slow answers and rejections; the reconciliation lists differences."""

import sqlite3

import pytest
from webhall import make_app, serve_one

from province import forwarder as fw
from province.forwarder import Forwarder
from province.mapping import load
from province.reconcile import reconcile
from province.simulator import Platform
from server.rating_record import attach_case_number


@pytest.fixture
def hall(tmp_path):
    app = make_app(tmp_path / "hall.db")
    engine = app.config["ENGINE"]
    serve_one(engine)
    engine.rate(2, "evaluator", window=1, reason="attitude")  # a rating and a case opened
    serve_one(engine)
    engine.rate(5, "evaluator", window=1)
    app.config["CASES"].act(1, "call-back", "sup", "已回访", contact="phone", answer="satisfied")
    yield tmp_path / "hall.db", engine.config.code, engine.now().date().isoformat()
    engine.store.close()


@pytest.fixture
def platform():
    p = Platform()
    url = p.start()
    yield p, url
    p.stop()


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_records_survive_an_outage_and_slow_answers_and_arrive_once(hall, platform, tmp_path, monkeypatch):
    db, code, day = hall
    p, url = platform
    clock = Clock()
    f = Forwarder(db, tmp_path / "outbox.db", url, code, load(None), clock=clock)
    p.outage = True
    got = f.step()
    assert got["collected"] == 4 and got["sent"] == 0 and got["retry"] == 1  # 2 ratings, open + call-back
    assert f.send_due() == {"sent": 0, "rejected": 0, "retry": 0}  # backing off: nothing is due yet
    p.outage = False
    monkeypatch.setattr(fw, "TIMEOUT", 0.3)
    p.slow_seconds = 1.0  # slower than the forwarder waits: a failed attempt, retried later
    clock.t += 5
    assert f.send_due()["retry"] == 1
    p.slow_seconds = 0
    clock.t += 1000
    assert f.send_due()["sent"] == 4
    assert len(p.records) == 4
    kinds = sorted(r["type"] for r in p.records.values())
    assert kinds == ["case_step", "case_step", "rating", "rating"]
    rating = next(r for r in p.records.values() if r["type"] == "rating" and r["satisfaction"] == "2")
    assert rating["badTags"] == "attitude" and rating["channel"] == "1" and rating["windowNo"] == 1
    assert rating["taskCode"] == "S101" and rating["deptCode"] == code
    # the same id on a resend is stored once (the platform answers 409 duplicate)
    conn = sqlite3.connect(tmp_path / "outbox.db", isolation_level=None)
    conn.execute("UPDATE records SET state = 'pending', next_at = 0")
    conn.close()
    assert f.send_due()["sent"] == 4 and len(p.records) == 4
    assert reconcile(db, code, day, url, tmp_path / "outbox.db")["matches"]
    f.close()


def test_rejected_records_are_kept_with_the_reason_and_reconciliation_lists_them(hall, platform, tmp_path):
    db, code, day = hall
    p, url = platform
    p.require = ["raterId"]  # this province wants the rater; the two ratings from the hall have no phone
    f = Forwarder(db, tmp_path / "outbox.db", url, code, load(None))
    assert f.step()["rejected"] == 4
    [reason] = {r["reason"] for r in f.rejected()}
    assert reason == "缺少字段 raterId"
    result = reconcile(db, code, day, url, tmp_path / "outbox.db")
    assert not result["matches"]
    assert {r["kind"]: (r["hallq"], r["platform"]) for r in result["rows"]} == {"rating": (2, 0), "case_step": (2, 0)}
    assert {m["outbox"] for m in result["missing_on_platform"]} == {"rejected"}
    f.close()


def test_the_whole_record_reaches_the_platform_tags_case_numbers_appeals_and_default_ratings(tmp_path, platform):
    p, url = platform
    app = make_app(tmp_path / "hall.db")
    engine = app.config["ENGINE"]
    serve_one(engine)
    attach_case_number(engine, engine.store, 1, "BJ-2026-000123", "w1")  # attached before the rating
    engine.rate(2, "evaluator", window=1, reason="attitude", tags=["efficiency"], comment="等了很久")
    serve_one(engine)  # never rated: the profile's default rating later
    serve_one(engine)
    engine.rate(5, "evaluator", window=1)
    attach_case_number(engine, engine.store, 1, "BJ-2026-000456", "w1")  # attached after the rating
    appeals = app.config["APPEALS"]
    appeals.file(1, "w1", 1, "群众误按", "监控录像显示群众表示满意", None)
    appeals.decide(1, True, "录像核实，属误评", "sup")
    day = engine.now().date().isoformat()
    engine.clock.advance(minutes=8 * 24 * 60)
    assert engine.rate_by_default(3, 7) == 1
    f = Forwarder(tmp_path / "hall.db", tmp_path / "outbox.db", url, engine.config.code, load(None))
    f.step()
    f.close()
    by_type: dict[str, list[dict]] = {}
    for r in sorted(p.records.values(), key=lambda r: int(r["evaluateId"].rsplit("-", 1)[1])):
        by_type.setdefault(r["type"], []).append(r)
    bad, good, default = by_type["rating"]
    assert (bad["satisfaction"], bad["badTags"], bad["projectNo"], bad["content"], bad["serviceNo"]) == \
        ("2", "attitude,efficiency", "BJ-2026-000123", "等了很久", 1)
    assert bad["evaluateType"] == "active" and "badTags" not in good
    assert (default["evaluateType"], default["satisfaction"], default["channel"], default["serviceNo"]) == \
        ("default", "3", "0", 2)
    first, later = by_type["case_number"]  # each attachment is a record of its own too
    assert (first["projectNo"], later["projectNo"], later["serviceNo"]) == ("BJ-2026-000123", "BJ-2026-000456", 3)
    filed, decided = by_type["appeal"]
    assert (filed["appealState"], filed["appealReason"], filed["counted"]) == ("filed", "群众误按", True)
    # the upheld appeal is a correction of the forwarded rating: it no longer counts
    assert (decided["appealState"], decided["appealResult"], decided["counted"]) == ("upheld", "录像核实，属误评", False)
    assert decided["correctsId"] == bad["evaluateId"] and decided["serviceNo"] == 1
    assert reconcile(tmp_path / "hall.db", engine.config.code, day, url)["matches"]
    engine.store.close()


def test_a_province_mapping_renames_fields_and_codes(tmp_path):
    path = tmp_path / "zj.toml"
    path.write_text('[fields]\nbjbh = "case_number"\npjid = "id"\nmyd = "grade"\n[grades]\n5 = "A"\n'
                    '[constants]\nareaCode = "330000"\n', encoding="utf-8")
    m = load(path)
    assert m.apply({"id": "h-1", "grade": 5, "case_number": "BJ001"}) == {
        "areaCode": "330000", "bjbh": "BJ001", "pjid": "h-1", "myd": "A"}
    path.write_text('[fields]\nx = "colour"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="unknown hallq field"):
        load(path)


def test_county_reconciliation_lists_each_halls_differences_from_the_county_copy(hall, platform, tmp_path, pg_url):
    """Every hall of the county compared with the platform, from the events they shipped (real
    PostgreSQL): a hall whose records all arrived matches; a record the platform lacks is listed
    under its hall; a hall that forwarded nothing shows what it owes."""
    import json
    import subprocess
    import sys

    from liveserver import REPO

    from county import registry
    from county.app import create_app as county_app
    from county.app import stop_app as stop_county
    from county.serve import BackgroundCounty
    from province.reconcile import reconcile_county
    from server.shipper import Shipper

    db, code, day = hall
    p, url = platform
    capp = county_app(pg_url)
    county = BackgroundCounty(capp).start()
    try:
        shipper = Shipper(db, county.url, registry.add_hall(capp.config["DB"], code, "测试中心"), batch=50)
        while shipper.step():
            pass
        shipper.stop()
        registry.add_hall(capp.config["DB"], "QT", "另一中心")  # ships nothing: owes nothing
        f = Forwarder(db, tmp_path / "outbox.db", url, code, load(None))
        f.step()
        f.close()
        result = reconcile_county(pg_url, day, url)
        assert result["matches"] and [h["hall"] for h in result["halls"]] == sorted([code, "QT"])
        mine = next(h for h in result["halls"] if h["hall"] == code)
        assert {r["kind"]: r["hallq"] for r in mine["rows"]} == {"rating": 2, "case_step": 2}
        lost = next(iter(p.records))
        del p.records[lost]  # the platform lost one
        out = subprocess.run([sys.executable, "-m", "hallq.cli", "province", "reconcile", "--county", pg_url,
                              "--day", day, "--url", url], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert out.returncode == 1, out.stderr
        result = json.loads(out.stdout)
        mine = next(h for h in result["halls"] if h["hall"] == code)
        assert [m["id"] for m in mine["missing_on_platform"]] == [lost] and not mine["matches"]
        assert next(h for h in result["halls"] if h["hall"] == "QT")["matches"]
    finally:
        county.stop()
        stop_county(capp)
