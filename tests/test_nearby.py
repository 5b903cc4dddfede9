"""附近大厅 with real parts: `hallq county serve` on real PostgreSQL, a real `hallq serve` hall linked
to it, the kiosk's pygame loop headless on that hall. The hall keeps the county's wait figures and
serves them at GET /api/v1/nearby (the kiosk talks only to its own hall); with the county stopped it
serves the last copy marked stale, also after a restart; the kiosk's 附近大厅 screen shows every
centre, the wait for the matter the citizen looks at, and how fresh the copy is (screenshots in
test-artifacts/kiosk/)."""

from __future__ import annotations

import subprocess

import pytest
from kioskrig import Rig
from liveserver import REPO, all_day_config, free_port, linked_config, start_serve, wait_for
from test_county_replication import start_county, stop

from county import registry
from county.db import Database
from hallq.client import ApiClient
from kiosk.app import CONFIRM, NEARBY, START
from server.api.schemas import Nearby

pytestmark = pytest.mark.slow
KIOSK = "demo-qingshi-kiosk-1"


def texts(rig: Rig) -> str:
    """What the screen drew, wrapped lines joined again."""
    return "".join(t[0] for t in rig.ui.screens.drawn)


def test_the_hall_keeps_the_countys_wait_figures_for_its_kiosk_and_serves_the_last_copy_stale(tmp_path, pg_url):
    county_port, hall_port = free_port(), free_port()
    db = Database(pg_url)
    db.migrate()
    token = registry.add_hall(db, "QS", "青石镇便民服务中心")
    registry.add_hall(db, "SQ", "石桥村便民服务站", level="village")  # registered, never shipped
    db.close()
    linked = linked_config(REPO / "config" / "township.toml", tmp_path / "qs.toml", f"http://127.0.0.1:{county_port}",
                           token)
    hall_url = f"http://127.0.0.1:{hall_port}"
    api = ApiClient(hall_url, KIOSK)
    procs: list[subprocess.Popen] = []
    rig = None

    def nearby() -> dict:
        answer = api.get("/nearby")
        Nearby.model_validate(answer)  # linked, stale or not: what the document says
        return answer

    try:
        procs.append(start_county(pg_url, county_port))
        hall = start_serve(linked, tmp_path / "qs.db", hall_port, "--nearby-poll", "0.2")
        procs.append(hall)
        for _ in range(2):
            api.post("/tickets", {"service": "S101"})
        seen = wait_for(lambda: (n := nearby()) and not n["stale"] and any(
            h["code"] == "QS" and h["waiting"] == 2 for h in n["halls"]) and n, "the county's figures at the hall")
        halls = {h["code"]: h for h in seen["halls"]}
        assert seen["linked"] and seen["as_of"] and set(halls) == {"QS", "SQ"}
        assert (halls["QS"]["own"], halls["QS"]["link"], halls["SQ"]["own"], halls["SQ"]["link"]) == (
            True, "online", False, "never")
        s101 = next(s for s in halls["QS"]["services"] if s["code"] == "S101")
        assert (s101["name"], s101["waiting"]) == ("居民身份证申领换领", 2)

        rig = Rig(hall_url, token=KIOSK)
        rig.tap(("nearby",))
        assert rig.app.screen == NEARBY
        shown = texts(rig)
        assert "青石镇便民服务中心（本中心）" in shown and "石桥村便民服务站" in shown
        assert "在等 2 人 · 开放窗口 0 个" in shown and "暂无数据" in shown
        assert f"数据更新于 {rig.app.nearby['as_of'][11:16]}" in shown and "仅供参考" not in shown
        rig.shot("nearby-01-centres")
        rig.tap(("back",))
        assert rig.app.screen == START
        rig.tap(("large",))  # 大字模式: the same screen, larger
        rig.tap_paged(("category", "公安户政"))
        rig.tap_paged(("matter", "S101"))
        assert rig.app.screen == CONFIRM
        rig.tap(("nearby",))
        shown = texts(rig)
        assert "附近大厅 · 居民身份证申领换领" in shown and "该事项在等 2 人" in shown
        rig.shot("nearby-02-matter-large")
        rig.tap(("back",))
        assert rig.app.screen == CONFIRM

        stop(procs.pop(0))  # the county goes away: the last copy, marked stale, never an error
        old = wait_for(lambda: (n := nearby())["stale"] and n, "the copy marked stale")
        assert [h["waiting"] for h in old["halls"]] == [h["waiting"] for h in seen["halls"]]
        rig.tap(("nearby",))
        shown = texts(rig)
        assert "与县网络连接中断" in shown and "仅供参考" in shown and "该事项在等 2 人" in shown
        rig.shot("nearby-03-stale-large")

        stop(procs.pop())  # and the hall restarts with the county still down: the kept copy
        procs.append(start_serve(linked, tmp_path / "qs.db", hall_port, "--nearby-poll", "0.2"))
        again = nearby()
        assert again["stale"] and again["as_of"] == old["as_of"]
        assert {h["code"]: h["waiting"] for h in again["halls"]} == {"QS": 2, "SQ": 0}
    finally:
        if rig is not None:
            rig.close()
        for p in procs:
            stop(p)


def test_a_hall_without_a_county_answers_an_empty_unlinked_list(tmp_path):
    port = free_port()
    config = all_day_config(REPO / "config" / "township.toml", tmp_path / "plain.toml")
    proc = start_serve(config, tmp_path / "h.db", port)
    try:
        assert ApiClient(f"http://127.0.0.1:{port}", KIOSK).get("/nearby") == {
            "linked": False, "as_of": None, "age_seconds": None, "stale": True, "halls": []}
    finally:
        stop(proc)
