"""A thread of `hallq serve` (and `hallq demo`) forwarding the hall's 好差评 record to the provincial
platform (`[province]`, province/forwarder.py), and telling the supervisor how that link stands:
its state in /api/v1/health (records waiting in the outbox, rejected ones, the last success) and,
while the platform is away, a red `device_offline` alert from `province:platform` on the 电子监察
board, as the SMS gateway's (notifier/daemon.py), cleared when records go through again.

The forwarder reads the hall's database read-only and keeps its own outbox beside it, so the hall
serves citizens whatever the platform does; its SQLite connections live in this thread only."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from flask import Flask

from hallq.model import ProvinceLink
from province.forwarder import Forwarder
from province.mapping import load

log = logging.getLogger(__name__)

ALERT_SOURCE = "province:platform"
STATE_NAMES = {"starting": "正在连接", "forwarding": "正常报送", "offline": "平台不可用"}


def outbox_path(db_path: str | Path) -> Path:
    """The forwarder's outbox beside the hall's database (hall.db -> hall-province-outbox.db)."""
    db = Path(db_path)
    return db.with_name(db.stem + "-province-outbox.db")


class ProvinceForwarding:
    def __init__(self, app: Flask, db_path: str | Path, link: ProvinceLink, outbox: str | Path | None = None) -> None:
        config = app.config["HALL"]
        self.board = app.config["ALERTS"]
        self.link = link
        self.forwarder = Forwarder(db_path, outbox or outbox_path(db_path), link.url, config.code,
                                   load(link.mapping or None), names={c: s.name for c, s in config.services.items()},
                                   token=link.token, max_backoff=link.max_backoff_seconds)
        self._status = {"state": "starting", "state_name": STATE_NAMES["starting"], "outbox": 0, "rejected": 0,
                        "last_success": None}
        self._alert_sent: bool | None = None  # unknown until told once
        self._rejected_told: int | None = None  # rejected records the board was last told of
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                done = True
                try:
                    done = self.forwarder.caught_up(self.forwarder.step())
                except sqlite3.Error as exc:  # the hall's file busy or away: the next round tries again
                    log.warning("province forwarder: %s", exc)
                self._observe()
                if done:  # a backlog goes on at once; otherwise wait for new records
                    self._stop.wait(self.link.poll_seconds)
        finally:
            self.forwarder.close()

    def _observe(self) -> None:
        f = self.forwarder
        box = f.outbox()
        self._status = {"state": f.state, "state_name": STATE_NAMES.get(f.state, f.state), "outbox": box["pending"],
                        "rejected": box["rejected"], "last_success": f.last_success}
        self._tell_rejected(box["rejected"])
        down = f.state == "offline"
        if down == self._alert_sent:
            return
        if down:
            log.warning("province forwarder: the platform is away (%s); records wait in the outbox", f.error)
        elif self._alert_sent:
            log.info("province forwarder: forwarding again")
        message = f"省好差评平台不可用（{(f.error or '')[:60]}），{box['pending']} 条记录待报送" if down else ""
        try:
            self.board.report("device_offline", ALERT_SOURCE, "red", message, down, "system")
            self._alert_sent = down
        except Exception as exc:  # noqa: BLE001  the board's store busy: told again next round
            log.warning("province link alert not recorded: %s", exc)

    def _tell_rejected(self, count: int) -> None:
        """A record the platform refused is kept in the outbox and never resent by itself, so the
        supervisor must learn of it: a yellow alert on the 电子监察 board naming how many and the
        latest reason, while any is left rejected."""
        if count == self._rejected_told:
            return
        message = ""
        if count:
            [(kind, day, reason)] = self.forwarder.out.execute(
                "SELECT kind, day, reason FROM records WHERE state = 'rejected' ORDER BY event_id DESC LIMIT 1").fetchall()
            message = (f"省好差评平台退回 {count} 条记录（最近：{day} {kind}，{(reason or '')[:60]}），"
                       "未报送；请核对后重报（hallq province rejected / resend，docs/province.md）")
        try:
            self.board.province_rejected(message)
            self._rejected_told = count
        except Exception as exc:  # noqa: BLE001  the board's store busy: told again next round
            log.warning("province rejection alert not recorded: %s", exc)

    def status(self) -> dict:
        """The link as /api/v1/health shows it (no addresses or error text: health needs no token)."""
        return dict(self._status)

    def start(self) -> ProvinceForwarding:
        self._thread = threading.Thread(target=self.run, name="province-forwarder", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
