"""The threads that link a hall to its county (`[county]`): the shipper (event log up) and the
followers (catalogue releases, referrals, 差评 case steps, 附近大厅 wait figures), with their poll
options — one place for `hallq serve` and `hallq demo`, so a demo hall is linked as a real one."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable

from hallq.model import HallConfig

from .commands.bounded import bounded

log = logging.getLogger(__name__)


SECONDS = bounded(0.1, 3600, "seconds")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--catalogue-poll", type=SECONDS, default=30.0, metavar="SECONDS",
                        help="with [county]: how often to ask the county for a newer catalogue release (default 30)")
    parser.add_argument("--referral-poll", type=SECONDS, default=5.0, metavar="SECONDS",
                        help="with [county]: how often to exchange cross-level referrals with the county (default 5)")
    parser.add_argument("--case-poll", type=SECONDS, default=10.0, metavar="SECONDS",
                        help="with [county]: how often to take the county's steps on 差评 cases (default 10)")
    parser.add_argument("--nearby-poll", type=SECONDS, default=30.0, metavar="SECONDS",
                        help="with [county]: how often to take every centre's wait figures for 附近大厅 (default 30)")
    parser.add_argument("--county-alert-after", type=SECONDS, default=300.0, metavar="SECONDS",
                        help="with [county]: a link down this long is an alert on the board (default 300); the hall "
                             "keeps serving and ships what it missed once the link is back")
    parser.add_argument("--no-ship", action="store_true",
                        help="with [county]: do not ship the event log from this process (a `hallq ship` does)")


def start(app, config: HallConfig, db: str, args: argparse.Namespace) -> Callable[[], None]:
    """Start the link's threads when the config has [county]; returns what stops them."""
    if config.county is None:
        return lambda: None
    from .case_follower import CaseFollower
    from .catalogue_follower import CatalogueFollower
    from .nearby import NearbyFollower
    from .referral_follower import ReferralFollower
    from .shipper import Shipper

    url, token = config.county.url, config.county.token
    threads: list = [CatalogueFollower(app, url, token, args.catalogue_poll).start(),  # releases down, applied live
                     ReferralFollower(app, url, token, args.referral_poll).start(),  # referrals both ways
                     CaseFollower(app, url, token, args.case_poll).start(),  # the county's steps on its cases
                     NearbyFollower(app, url, token, args.nearby_poll).start()]  # every centre's wait, for kiosks
    if not args.no_ship:
        watch = LinkWatch(app, args.county_alert_after, followers=list(threads))
        app.config["COUNTY_LINK"] = watch
        threads.append(Shipper(db, url, token, on_round=watch.observe).start())

    def stop() -> None:
        for thread in threads:
            thread.stop()

    return stop


STATE_NAMES = {"starting": "正在连接", "shipping": "正在上报", "caught_up": "已同步", "offline": "连接中断",
               "refused": "县级平台拒收", "diverged": "记录不一致，已暂停上报"}
DIVERGED_MESSAGE = ("本厅记录与县级平台不一致（第 {after} 号事件起；数据库是否已从备份恢复？），已暂停上报，"
                    "本厅照常办理；请联系县级平台管理员核实处理，处理后自动恢复上报")
ALERT_SOURCE = "county:link"
FOLLOWER_NAMES = {"catalogue": "事项目录", "referrals": "转办", "cases": "差评工单", "nearby": "附近大厅"}


class LinkWatch:
    """The county link as the hall itself sees it: its state for /api/v1/health (events not yet at
    the county, the county's last answer) and an alert on the board once it has been down for
    `alert_after` seconds — the hall keeps serving offline, but its supervisor should know that
    nothing reaches the county (refused: a wrong token or a hall the county does not know) — or
    that one of the followers has failed that long while shipping goes on (one alert, the same
    source, cleared when all are back)."""

    def __init__(self, app, alert_after: float, followers: list | None = None) -> None:
        self.board, self.store = app.config["ALERTS"], app.config["ENGINE"].store
        self.alert_after = alert_after
        self.followers = followers or []  # server/county_poller.py threads: one of them down is the link's alert too
        self._status: dict = {"state": "starting", "state_name": STATE_NAMES["starting"], "unsent": None,
                              "last_contact": None}
        self._alert_sent: bool | None = None  # unknown until told once
        self._diverged_sent: str | None = None  # the divergence alert's text as raised ("": cleared)
        self._shipper_down = False

    def observe(self, shipper) -> None:
        """After each round of the shipper (its thread)."""
        unsent = None if shipper.acked is None else max(0, self.store.last_committed_id - shipper.acked)
        diverged = shipper.diverged if shipper.state == "diverged" else None
        self._status = {"state": shipper.state, "state_name": STATE_NAMES.get(shipper.state, shipper.state),
                        "unsent": unsent, "last_contact": shipper.last_contact,
                        "diverged_after": None if diverged is None else diverged.get("after"),
                        "common": None if diverged is None else diverged.get("common")}
        self._tell_diverged(diverged)
        now = time.monotonic()
        shipping_down = shipper.down_since is not None and now - shipper.down_since >= self.alert_after
        lagging = [f for f in self.followers if f.down_since is not None and now - f.down_since >= self.alert_after]
        down = shipping_down or bool(lagging)
        if shipper.down_since is None and self._shipper_down:  # the county is back: the followers try now
            for f in self.followers:
                if f.down_since is not None:
                    f.nudge()
        self._shipper_down = shipper.down_since is not None
        if down == self._alert_sent:
            return
        since = f"，最后联系 {shipper.last_contact[11:16]}" if shipper.last_contact else ""
        message = (f"与县级平台的连接{STATE_NAMES.get(shipper.state, '中断')}{since}；本厅照常办理，恢复后自动补报"
                   if shipping_down else
                   f"县级平台{'、'.join(FOLLOWER_NAMES.get(f.name, f.name) for f in lagging)}同步中断"
                   f"（{(lagging[0].error or '')[:60]}）；本厅照常办理，恢复后自动补齐" if down else "")
        try:
            self.board.report("device_offline", ALERT_SOURCE, "red" if shipper.state == "refused" else "yellow",
                              message[:200], down, "system")
            self._alert_sent = down
        except Exception as exc:  # noqa: BLE001  the board's store busy: told again next round
            log.warning("county link alert not recorded: %s", exc)

    def _tell_diverged(self, diverged: dict | None) -> None:
        message = "" if diverged is None else DIVERGED_MESSAGE.format(after=diverged.get("after", "?"))
        if message == self._diverged_sent:
            return
        try:
            self.board.county_diverged(message)
            self._diverged_sent = message
        except Exception as exc:  # noqa: BLE001  the board's store busy: told again next round
            log.warning("county divergence alert not recorded: %s", exc)

    def status(self) -> dict:
        return dict(self._status)
