"""身份证取号: the ID card reader at the kiosk, joined to the kiosk's flow.

A card placed on the reader is read by the driver (drivers/idcard_reader.py) on its own thread;
`CardFlow.placed` then acts on the kiosk's current screen:

- on a matter's confirm screen (or its whole materials list) it takes the ticket for that matter with the card's name and ID
  number (the server masks both, and gives 老年人优先 by the birth date, rules.elderly_age);
- anywhere else it opens the citizen's own page: their tickets today and today's appointments made
  with that ID (POST /api/v1/citizens/today), each appointment checked in with one tap, and a
  button to take a new ticket with the card remembered until the kiosk returns to its start.

The card's data lives only in memory for this citizen's session (forgotten by `KioskApp.home`);
the photo never leaves the driver. The reader's state is reported like the printer's: a
`device_offline` alert from source `idreader:<kiosk>` while it is offline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from drivers.idcard import CardText
from drivers.idcard_reader import Card, IdCardReader
from hallq.client import ApiClient, ApiError, Unreachable
from hallq.model import IdReader
from kiosk.printing import PrinterAlerts

log = logging.getLogger(__name__)

CITIZEN = "citizen"  # the screen of the citizen's own tickets and appointments
READER_OFFLINE = {"device_offline": ("red", "取号机身份证阅读器无应答（离线或故障）")}


@dataclass
class CardHolder:
    """The citizen whose card was read, for this session only."""

    id_number: str
    name: str
    tickets: list[dict] = field(default_factory=list)
    appointments: list[dict] = field(default_factory=list)

    @property
    def masked_name(self) -> str:
        return masked_name(self.name)


def masked_name(name: str) -> str:
    """张三丰 -> 张*丰, as the server shows names (the kiosk draws before the server answers)."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


class CardFlow:
    """What a placed card does at this kiosk (the app's hooks call it)."""

    def __init__(self, app) -> None:
        self.app = app
        self.cards_read = 0

    def placed(self, text: CardText) -> None:
        from kiosk.app import CONFIRM, ISSUING, MATERIALS

        app = self.app
        with app._lock:
            if app.busy or app.screen == ISSUING:
                return  # one request in flight per kiosk; the citizen can place the card again
            self.cards_read += 1
            app.card = CardHolder(text.id_number, text.name)
            app.touched_at = app.clock()
            # The materials list is the confirm screen's own (查看全部 N 项材料): the same matter.
            if app.screen in (CONFIRM, MATERIALS) and app.matter is not None and app.appointment is None:
                app.id_number = text.id_number
                app._on_confirm()
                return
        self.open_own_page()

    def open_own_page(self) -> None:
        """The citizen's tickets today and appointments to check in, from the server."""
        app = self.app
        holder = app.card
        if holder is None:
            return
        try:
            found = app.api.post("/citizens/today", {"id_number": holder.id_number})
        except Unreachable:
            from kiosk.app import OFFLINE_TEXT

            app._show(OFFLINE_TEXT)
            return
        except ApiError as exc:
            log.warning("ID card look-up refused: %s", exc)
            app._show("身份证号码有误，请核对后重新输入" if exc.body.get("field") == "id_number"
                      else "查询未成功，请到服务台")
            return
        with app._lock:
            holder.tickets = found.get("tickets", [])
            holder.appointments = [a for a in found.get("appointments", []) if app.menu.matter(a["service"])]
            app.appointments = holder.appointments  # tapping one checks it in (the existing flow)
            app._go(CITIZEN)

    def removed(self) -> None:
        """Nothing to do: the session ends with the idle timeout or 完成, as without a card."""


class ReaderLink:
    """The kiosk's reader: the driver, its alerts, and the flow it feeds."""

    def __init__(self, conf: IdReader, flow: CardFlow, api: ApiClient, kiosk_id: str) -> None:
        self.flow = flow
        self.alerts = PrinterAlerts(api, f"idreader:{kiosk_id}", kinds=self._kinds)
        self.reader = IdCardReader(conf.url, baudrate=conf.baudrate, on_card=self._card, on_removed=flow.removed,
                                   on_state=self._state, name=f"kiosk {kiosk_id} ID card reader")

    @staticmethod
    def _kinds(online: bool) -> dict[str, tuple[str, str]]:
        return {} if online else dict(READER_OFFLINE)

    def _card(self, card: Card) -> None:
        self.flow.placed(card.text)

    def _state(self, online: bool, reason: str) -> None:
        self.alerts.update(online)

    def start(self) -> ReaderLink:
        self.reader.start()
        return self

    def close(self) -> None:
        self.reader.stop()
        self.alerts.close()
