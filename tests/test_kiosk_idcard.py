"""身份证取号 end to end: a simulated ID card reader on a real pty, the kiosk's real loop (headless
pygame), a real server. Placing a card takes the ticket, opens the citizen's own page, checks in
their appointment; a reader that goes offline raises a device alert."""

from __future__ import annotations

from datetime import date

import pytest
from kioskrig import Rig
from liveserver import next_slot

from drivers.sim import wait_for
from drivers.sim.idcard import IdCardReaderSim, make_card
from hallq.client import ApiClient
from hallq.model import IdReader
from kiosk.app import CONFIRM, MATERIALS, START, TICKET
from kiosk.idcard import CITIZEN, ReaderLink


@pytest.fixture
def card_rig(server):
    rig = Rig(server[0])
    sim = IdCardReaderSim()
    link = ReaderLink(IdReader(sim.path), rig.app.cards, rig.api, "K1")
    link.reader.answer_timeout = 0.5
    link.reader.offline_retry = 0.3
    link.alerts.retry_seconds = 0.5
    link.start()
    assert wait_for(lambda: link.reader.online, 5)
    yield rig, sim, link
    link.close()
    sim.close()
    rig.close()


def until(rig: Rig, predicate, timeout: float = 8.0) -> bool:
    """Run the kiosk's loop while waiting (the card is read on the driver's thread)."""
    def step():
        rig.ui.step()
        return predicate()
    return wait_for(step, timeout)


@pytest.mark.parametrize("screen", [CONFIRM, MATERIALS])  # the confirm screen, or its whole materials list
def test_a_card_on_the_confirm_screen_takes_an_elderly_ticket_with_name_and_id_masked(card_rig, server, screen):
    rig, sim, _ = card_rig
    rig.tap(("category", "社保医保"))
    rig.tap(("matter", "S101"))
    assert rig.app.screen == CONFIRM
    if screen == MATERIALS:
        rig.app.handle(("materials",))
        assert rig.app.screen == MATERIALS
    sim.place(make_card("王秀英", date(1950, 3, 8), 611, sex="2"))
    assert until(rig, lambda: rig.app.screen == TICKET and rig.app.issued.printed is not None)
    rig.shot("idcard-01-elderly-ticket")
    t = rig.app.issued.ticket
    assert t["priority"] == "green" and t["name"] == "王*英"
    stored = server[1].config["ENGINE"].ticket(t["id"])
    assert stored.id_number == "4201**********" + sim.card.id_number[-4:] and stored.priority_reason == "elderly"
    assert stored.id_number != sim.card.id_number
    rig.tap(("done",))
    assert rig.app.screen == START and rig.app.card is None  # the card's data goes with the session


def test_a_card_on_the_start_screen_opens_only_the_citizens_own_tickets_and_a_new_one_carries_it(card_rig, server):
    rig, sim, _ = card_rig
    young = make_card("李建国", date(1985, 10, 1), 612)
    kiosk = ApiClient(server[0], "t-kiosk")
    mine = kiosk.post("/tickets", {"service": "S102", "id_number": young.id_number, "name": young.name})
    kiosk.post("/tickets", {"service": "S102", "id_number": make_card("赵六", date(1980, 1, 1), 613).id_number})
    sim.place(young)
    assert until(rig, lambda: rig.app.screen == CITIZEN)
    rig.shot("idcard-02-own-page")
    assert [t["code"] for t in rig.app.card.tickets] == [mine["code"]]
    assert set("李*国您好") <= rig.ui.screens.texts  # the greeting, with the name masked
    rig.tap(("card_menu",))
    assert rig.app.screen == START
    rig.tap(("category", "社保医保"))
    rig.tap(("matter", "S101"))
    rig.tap(("confirm",))
    rig.settle()
    t = rig.app.issued.ticket
    assert t["priority"] == "normal" and t["name"] == "李*国"  # 36 years old: no 老年人优先
    again = kiosk.post("/citizens/today", {"id_number": young.id_number})
    assert [x["code"] for x in again["tickets"]] == [mine["code"], t["code"]]


def test_a_card_checks_in_the_appointment_made_with_that_id(card_rig, server):
    rig, sim, _ = card_rig
    card = make_card("张晓明", date(2001, 6, 15), 614)
    slot = next_slot(server[1].config["ENGINE"].now())
    appt = ApiClient(server[0], "t-admin").post("/appointments", {"service": "S102", "slot_start": slot.isoformat(),
                                                                  "phone": "13900002222", "id_number": card.id_number})
    sim.place(card)
    assert until(rig, lambda: rig.app.screen == CITIZEN)
    rig.shot("idcard-03-appointment")
    rig.tap(("appointment", appt["code"]))
    assert rig.app.screen == CONFIRM and rig.app.appointment["code"] == appt["code"]
    rig.tap(("confirm",))
    rig.settle()
    assert rig.app.screen == TICKET and rig.app.issued.ticket["priority"] == "appointment"
    rows = server[1].config["ENGINE"].store.rows("SELECT state FROM appointments WHERE code = ?", [appt["code"]])
    assert rows[0]["state"] == "checked_in"


def test_an_offline_reader_raises_a_device_alert_and_clears_it(card_rig, server):
    _, sim, link = card_rig
    supervisor = ApiClient(server[0], "t-admin")

    def alert():
        return [a for a in supervisor.get("/alerts")["alerts"] if a["source"] == "idreader:K1"]

    sim.silent = True
    assert wait_for(lambda: alert(), 10)
    assert alert()[0]["kind"] == "device_offline"
    sim.silent = False
    assert wait_for(lambda: not alert(), 10)
