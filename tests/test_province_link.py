"""`hallq serve` with [province]: the forwarder runs as a thread of the hall process. A rating and
a 差评 case step posted to the hall reach the platform simulator; with the platform down the hall
raises the red device alert and its outbox holds the records; once the platform is back they are
drained, each stored once, the alert clears, and SIGTERM stops the hall cleanly."""

import json
import signal

from liveserver import REPO, all_day_config, free_port, start_serve, wait_for

from hallq.client import ApiClient
from hallq.config import ConfigError, load_config, parse_config
from province.simulator import Platform
from server.api.schemas import Health
from server.province_link import ALERT_SOURCE


def test_serve_forwards_to_the_platform_raises_an_alert_while_it_is_down_and_drains_after(tmp_path):
    platform = Platform()
    url = platform.start()
    port_of_platform = platform.server.server_address[1]
    conf = all_day_config(REPO / "config" / "township.toml", tmp_path / "hall.toml")
    conf.write_text(conf.read_text(encoding="utf-8") + f'\n[province]\nurl = "{url}"\ntoken = "prov-token"\n'
                    "poll_seconds = 1\nmax_backoff_seconds = 1\n", encoding="utf-8")
    config = load_config(conf)
    assert config.province.url == url and config.province.token == "prov-token"
    port = free_port()
    proc = start_serve(conf, tmp_path / "hall.db", port)
    base = f"http://127.0.0.1:{port}"
    tokens = {t.role: t.token for t in config.tokens}
    kiosk, caller, admin = (ApiClient(base, tokens[r]) for r in ("kiosk", "caller", "admin"))
    service = next(iter(config.windows[1].services))

    def serve_and_rate(grade):
        kiosk.post("/tickets", {"service": service})
        caller.window(1, "call-next")
        caller.window(1, "finish", outcome="done")
        caller.post("/ratings", {"grade": grade, "channel": "evaluator", "window": 1,
                                 **({"reason": "attitude"} if grade <= 2 else {})})

    def kinds():
        with platform.lock:
            return sorted(r["type"] for r in platform.records.values())

    def link():
        health = ApiClient(base, "").get("/health")
        Health.model_validate(health)  # the answer is what the document says, province included
        return health["province"]

    def alerted():
        return [a for a in admin.get("/alerts")["alerts"] if a["source"] == ALERT_SOURCE]

    try:
        caller.window(1, "login", staff=next(iter(config.staff)))
        serve_and_rate(5)
        wait_for(lambda: kinds() == ["rating"], "the rating at the platform")
        assert wait_for(lambda: link()["state"] == "forwarding" and link(), "the link forwarding")["outbox"] == 0
        platform.stop()  # the platform away: its port closed
        serve_and_rate(1)  # a 差评: the rating and its case opened wait in the outbox
        [alert] = wait_for(alerted, "the platform alert")
        assert alert["kind"] == "device_offline" and alert["level"] == "red" and "省好差评平台不可用" in alert["message"]
        held = link()
        assert held["state"] == "offline" and held["outbox"] >= 2 and held["last_success"], held
        assert kinds() == ["rating"]
        platform.start(port_of_platform)  # back, with what it stored before
        wait_for(lambda: kinds() == ["case_step", "rating", "rating"], "the outbox drained")
        wait_for(lambda: not alerted(), "the alert cleared")
        assert wait_for(lambda: link()["state"] == "forwarding" and link(), "the link forwarding") == {
            "state": "forwarding", "state_name": "正常报送", "outbox": 0, "rejected": 0,
            "last_success": link()["last_success"]}
        assert platform.duplicates == 0 and platform.posts >= 3
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=30)[0].decode()
        platform.stop()
    assert proc.returncode == 0 and "hallq: stopped" in out, out


def test_province_config_names_a_mapping_that_does_not_load(tmp_path):
    base = (REPO / "config" / "township.toml").read_text(encoding="utf-8")
    (tmp_path / "bad.toml").write_text('[fields]\nevaluateId = "nope"\n', encoding="utf-8")
    for table, problem in (('mapping = "bad.toml"\ntoken = "t"', "province.mapping: the field mapping does not load"),
                           ('mapping = "none.toml"\ntoken = "t"', "province.mapping: the field mapping does not load"),
                           ("", "province: needs exactly one of token or token_env")):
        (tmp_path / "hall.toml").write_text(base + f'\n[province]\nurl = "http://127.0.0.1:9"\n{table}\n', encoding="utf-8")
        try:
            load_config(tmp_path / "hall.toml")
        except ConfigError as exc:
            assert any(problem in str(p) for p in exc.problems), exc.problems
        else:
            raise AssertionError(f"{table!r} loaded")
    (tmp_path / "zj.toml").write_text('[fields]\nrecordId = "id"\n', encoding="utf-8")
    (tmp_path / "hall.toml").write_text(base + '\n[province]\nurl = "http://127.0.0.1:9/"\ntoken = "t"\nmapping = "zj.toml"\n',
                                        encoding="utf-8")
    link = load_config(tmp_path / "hall.toml").province
    assert (link.url, link.mapping, link.poll_seconds) == ("http://127.0.0.1:9", str(tmp_path / "zj.toml"), 2)
    assert parse_config(base).province is None


def _hall_forwarding(tmp_path, url, ratings, poll_seconds=1):
    """A hall app with `ratings` services rated 5 on the evaluator, and its forwarding thread."""
    from webhall import make_app, serve_one

    from hallq.model import ProvinceLink
    from server.province_link import ProvinceForwarding

    app = make_app(tmp_path / "hall.db")
    engine = app.config["ENGINE"]
    for _ in range(ratings):
        serve_one(engine)
        engine.rate(5, "evaluator", window=1)
    link = ProvinceLink(url, "prov-token", poll_seconds=poll_seconds, max_backoff_seconds=1)
    return app, ProvinceForwarding(app, tmp_path / "hall.db", link)


def test_a_record_the_platform_refuses_is_an_alert_on_the_board_until_it_is_resent(tmp_path):
    platform = Platform()
    url = platform.start()
    platform.require = ["raterId"]  # this province wants the rater's phone; the evaluator gives none
    app, link = _hall_forwarding(tmp_path, url, 1)
    board = app.config["ALERTS"]

    def refused():
        return [a for a in board.active() if a["kind"] == "province_rejected"]

    link.start()
    try:
        [alert] = wait_for(refused, "the rejection alert", 15)
        assert alert["level"] == "yellow" and alert["source"] == ALERT_SOURCE
        assert "退回 1 条记录" in alert["message"] and "缺少字段 raterId" in alert["message"], alert["message"]
        platform.require = []
        link.forwarder.out.execute("UPDATE records SET state = 'pending' WHERE state = 'rejected'")  # docs/province.md
        wait_for(lambda: not refused(), "the alert cleared once the record went through", 15)
        assert [r["type"] for r in platform.records.values()] == ["rating"]
    finally:
        link.stop()
        platform.stop()
        app.config["ENGINE"].store.close()


def test_a_backlog_in_the_halls_log_goes_on_without_waiting_between_pages(tmp_path, monkeypatch):
    """A month of demo history (or a hall that forwards for the first time) is a backlog of the
    hall's log: the forwarder reads it page after page at once, not one page per poll."""
    from province import forwarder as fw

    monkeypatch.setattr(fw, "BATCH", 2)  # pages of 10 events: 4 rated services are several pages
    platform = Platform()
    url = platform.start()
    app, link = _hall_forwarding(tmp_path, url, 4, poll_seconds=3600)
    link.start()
    try:
        wait_for(lambda: len(platform.records) == 4, "every rating at the platform", 15)
    finally:
        link.stop()
        platform.stop()
        app.config["ENGINE"].store.close()


def test_rejected_records_are_listed_and_resent_from_the_command_line(tmp_path, capsys):
    """Issue #16 point 4: `hallq province rejected` lists what the platform refused (id, day, kind,
    reason, attempts) and `hallq province resend ID|--all` sends it again, no SQL on the outbox:
    the forwarder of the running hall picks them up and its alert follows, then clears."""
    from hallq.cli import main

    platform = Platform()
    url = platform.start()
    platform.require = ["raterId"]
    app, link = _hall_forwarding(tmp_path, url, 2)
    board = app.config["ALERTS"]

    def refused():
        return [a["message"] for a in board.active() if a["kind"] == "province_rejected"]

    def cli(*argv):
        capsys.readouterr()
        code = main(["province", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    db = str(tmp_path / "hall.db")
    code, _, err = cli("rejected", "--outbox", str(tmp_path / "nowhere.db"))  # a wrong path: said, not created
    assert code == 1 and f"{tmp_path / 'nowhere.db'}: no such outbox" in err
    assert not (tmp_path / "nowhere.db").exists()
    link.start()
    try:
        wait_for(lambda: any("退回 2 条记录" in m for m in refused()), "both rejected", 15)
        code, out, _ = cli("rejected", "--db", db, "--json")
        rows = json.loads(out)
        assert code == 0 and [(r["kind"], r["reason"], r["attempts"]) for r in rows] == [
            ("rating", "缺少字段 raterId", 1)] * 2
        assert {r["day"] for r in rows} == {app.config["ENGINE"].now().date().isoformat()}
        first, second = rows[0]["id"], rows[1]["id"]
        code, out, _ = cli("rejected", "--outbox", str(tmp_path / "hall-province-outbox.db"))
        assert code == 0 and first in out and "缺少字段 raterId" in out and out.endswith("2 rejected record(s)\n")
        code, _, err = cli("resend", "--db", db, first, "XX-999")
        assert code == 1 and err == "hallq province resend: XX-999: no such record in the outbox; nothing changed\n"
        assert cli("resend", "--db", db)[0] == 2  # neither ids nor --all
        platform.require = []
        assert cli("resend", "--db", db, first)[:2] == (0, "1 record(s) back to pending: the forwarder sends them "
                                                          "on its next round\n")
        wait_for(lambda: any("退回 1 条记录" in m for m in refused()), "one left rejected", 15)
        code, _, err = cli("resend", "--db", db, first)
        assert code == 1 and "not rejected (it is sent)" in err
        assert cli("resend", "--db", db, "--all", "--json")[:2] == (0, f'["{second}"]\n')
        wait_for(lambda: not refused(), "the alert cleared once none is left", 15)
        assert cli("rejected", "--db", db)[1] == "0 rejected record(s)\n"
        assert len(platform.records) == 2
    finally:
        link.stop()
        platform.stop()
        app.config["ENGINE"].store.close()
