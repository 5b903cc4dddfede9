"""The hall's own view of its link to the county: `hallq serve` with [county] says in
/api/v1/health how the event log's link stands (state, events the county does not hold yet, its
last answer), and a link down longer than `--county-alert-after` is an alert on the board — the
hall keeps serving, and the alert clears once the county has caught up. Real processes: `hallq
county serve` on PostgreSQL and the hall."""

from __future__ import annotations

from liveserver import REPO, free_port, linked_config, start_serve, wait_for
from test_county_replication import start_county, stop

from county import registry
from county.db import Database
from hallq.client import ApiClient
from server.api.schemas import Health
from server.county_link import ALERT_SOURCE

ADMIN, KIOSK = "demo-qingshi-admin", "demo-qingshi-kiosk-1"


def test_the_hall_says_how_its_county_link_stands_and_alerts_when_it_stays_down(tmp_path, pg_url):
    county_port, hall_port = free_port(), free_port()
    db = Database(pg_url)
    db.migrate()
    token = registry.add_hall(db, "QS", "青石镇便民服务中心", level="township")
    db.close()
    linked = linked_config(REPO / "config" / "township.toml", tmp_path / "qs.toml", f"http://127.0.0.1:{county_port}",
                           token)
    base = f"http://127.0.0.1:{hall_port}"
    public, admin, kiosk = ApiClient(base, ""), ApiClient(base, ADMIN), ApiClient(base, KIOSK)

    def link() -> dict:
        health = public.get("/health")
        Health.model_validate(health)
        return health["county"]

    def alerts() -> list[dict]:
        return [a for a in admin.get("/alerts")["alerts"] if a["source"] == ALERT_SOURCE]

    procs = [start_county(pg_url, county_port)]
    hall = start_serve(linked, tmp_path / "qs.db", hall_port, "--county-alert-after", "1")
    try:
        service = kiosk.get("/services")["services"][0]["code"]
        kiosk.post("/tickets", {"service": service})
        up = wait_for(lambda: (lk := link())["state"] == "caught_up" and lk["unsent"] == 0 and lk, "caught up")
        assert up["state_name"] == "已同步" and up["last_contact"]
        assert alerts() == []

        stop(procs.pop())  # the county goes away: the hall serves on, its board says so
        for _ in range(3):
            kiosk.post("/tickets", {"service": service})
        # unsent is counted at each round: the first offline round may come before the third ticket
        down = wait_for(lambda: (lk := link())["state"] == "offline" and (lk["unsent"] or 0) >= 3 and lk,
                        "offline, with the three tickets unsent")
        assert down["state_name"] == "连接中断"
        [alert] = wait_for(alerts, "the link alert")
        assert alert["level"] == "yellow" and "县级平台" in alert["message"] and "自动补报" in alert["message"]

        procs.append(start_county(pg_url, county_port))  # back: it catches up, the alert clears
        wait_for(lambda: (lk := link())["state"] == "caught_up" and lk["unsent"] == 0, "caught up again")
        wait_for(lambda: not alerts(), "the alert cleared")
    finally:
        stop(hall)
        for p in procs:
            stop(p)
