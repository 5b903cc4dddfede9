"""The kiosk's screens as a state machine, with no drawing and no pygame.

Screens hand actions (tuples such as ("matter", "S101")) to `KioskApp.handle`; the app talks to
the server through the public API only and to the printer through `TicketOutput`. Issuing runs on
a worker thread, so the screen stays alive while the server and printer answer, and exactly one
request can be in flight: while it is, every action is ignored. A number is shown or printed only
from the server's 201 answer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hallq.client import ApiClient, ApiError, Unreachable, new_key
from kiosk.idcard import CITIZEN, CardFlow, CardHolder
from kiosk.printing import Printed, TicketOutput, ticket_print
from kiosk.voice import Voice, spoken_code

log = logging.getLogger(__name__)

START, MATTERS, CONFIRM, KEYPAD, APPOINTMENTS, ISSUING, TICKET, MESSAGE, NEARBY, MATERIALS = (
    "start", "matters", "confirm", "keypad", "appointments", "issuing", "ticket", "message", "nearby", "materials")

OFFLINE_TEXT = "暂停取号，请到服务台"
SETTLE_SECONDS = 0.35  # taps this soon after a screen change belong to the previous screen
REFUSALS = {
    "hall_closed": "现在不在取号时间，请在办公时间内取号",
    "numbers_exhausted": "今日该事项号码已发完，请到服务台咨询",
    "outside_checkin": "不在预约签到时间内，请在预约时段前后到本机签到",
}


def not_issuing_text(item: dict) -> str:
    """What a matter that is not issued now says (lunch break, before opening, after hours)."""
    back = item.get("next_issuing")
    return f"{back[11:16]} 起取号" if back else "今日已停止取号"


@dataclass
class Issued:
    """A ticket the server issued, and what became of its paper copy."""

    ticket: dict
    printed: bool | None  # None while the paper is still going out
    note: str
    link: str
    bytes_sent: int = 0


@dataclass
class Keypad:
    purpose: str  # "appointment" | "pin" | "id" | "sms" (the phone for SMS 即将到号, given with consent)
    entry: str = ""

    @property
    def max_len(self) -> int:
        return {"appointment": 11, "pin": 8, "id": 18, "sms": 11}[self.purpose]


@dataclass
class Menu:
    """GET /api/v1/services: the hall and its matters, categories in the order they first appear."""

    hall: dict = field(default_factory=dict)
    services: list[dict] = field(default_factory=list)

    @property
    def categories(self) -> list[str]:
        return list(dict.fromkeys(s["category"] for s in self.services))

    def in_category(self, category: str) -> list[dict]:
        return [s for s in self.services if s["category"] == category]

    def matter(self, code: str) -> dict | None:
        return next((s for s in self.services if s["code"] == code), None)


class KioskApp:
    def __init__(
        self,
        api: ApiClient,
        output: TicketOutput,
        *,
        public_url: str,
        staff_pin: str | None = None,
        voice: Voice | None = None,
        idle_seconds: float = 60.0,
        ticket_seconds: float = 20.0,
        checkin_window: tuple[int, int] = (60, 20),
        clock: Callable[[], float] = time.monotonic,
        retry_seconds: float = 1.0,
        hall_name: str = "",
    ) -> None:
        self.api = api
        self.hall_name = hall_name  # from the config: named even before the server first answers
        self.retry_seconds = retry_seconds  # wait before the one retry of a ticket request
        self.output = output
        self.public_url = public_url
        self.staff_pin = staff_pin
        self.voice = voice or Voice(enabled=False)
        self.idle_seconds = idle_seconds
        self.ticket_seconds = ticket_seconds
        self.checkin_window = checkin_window
        self.clock = clock
        self.menu = Menu()
        self.online = False
        self.large = False
        self.green = False  # 绿色通道 unlocked by staff for the next ticket
        self.screen = START
        self.category = ""
        self.page = 0
        self.list_page = 0  # the page of a list screen's own (一次告知, 附近大厅, appointments, the card's page)
        self.matter: dict | None = None
        self.appointment: dict | None = None
        self.id_number: str | None = None
        self.sms_phone: str | None = None  # given on the confirm screen for SMS 即将到号 (consent)
        self.card: CardHolder | None = None  # the ID card read for this citizen (kiosk/idcard.py)
        self.cards = CardFlow(self)
        self.keypad: Keypad | None = None
        self.nearby: dict | None = None  # GET /api/v1/nearby: the county's figures as the hall keeps them
        self.appointments: list[dict] = []
        self.issued: Issued | None = None
        self.message = ""
        self.busy = False
        self.requests = 0  # POST /tickets sent (tests and the bench read it)
        self.changed_at = clock()
        self.touched_at = clock()
        self._lock = threading.RLock()
        self._worker: threading.Thread | None = None
        self._hall_clock: tuple[datetime, float, float] | None = None  # (server time, our clock then, rate)

    # ------------------------------------------------------------------ menu

    def refresh_menu(self) -> bool:
        """Fetch the matters with their current waits; offline when the server does not answer."""
        try:
            data = self.api.get("/services")
            menu = Menu(data.get("hall", {}), data.get("services", []))
        except Exception as exc:  # Unreachable, ApiError, or a garbled answer (a proxy's HTML page):
            # never let it end the refresh thread, or the kiosk would stay online/offline for good
            log.warning("menu not refreshed: %s", exc)
            with self._lock:
                self.online = False
            return False
        with self._lock:
            self.menu = menu
            self.online = True
            try:
                self._hall_clock = (datetime.fromisoformat(menu.hall["now"]), self.clock(),
                                    float(menu.hall.get("clock_rate", 1.0)))
            except (KeyError, TypeError, ValueError):  # an older server: no clock rather than the PC's
                self._hall_clock = None
        self.refresh_nearby()
        return True

    def refresh_nearby(self) -> bool:
        """The hall's copy of every centre's wait (附近大厅); the button shows only for a linked hall."""
        try:
            data = self.api.get("/nearby")
            data["halls"] = list(data["halls"])
        except Exception as exc:  # an older hall answers 404; offline: keep the last copy
            log.info("附近大厅 not refreshed: %s", exc)
            return False
        with self._lock:
            self.nearby = data
        return True

    @property
    def nearby_linked(self) -> bool:
        return bool(self.nearby and self.nearby.get("linked"))

    def hall_now(self) -> datetime | None:
        """The hall's time (the server's, in the hall's zone): the time its tickets are stamped with,
        whatever this PC's clock says. None until the server has answered once."""
        with self._lock:
            if self._hall_clock is None:
                return None
            at, then, rate = self._hall_clock
            return at + timedelta(seconds=(self.clock() - then) * rate)

    @property
    def hall_display_name(self) -> str:
        return self.menu.hall.get("name") or self.hall_name or "政务服务中心"

    # ------------------------------------------------------------------ navigation

    def _go(self, screen: str) -> None:
        if screen != self.screen:
            self.list_page = 0  # a list screen opens on its first page
        self.screen = screen
        self.changed_at = self.clock()

    def home(self) -> None:
        """Back to the start screen, forgetting everything about the last citizen."""
        with self._lock:
            self.large = self.green = False
            self.category, self.page = "", 0
            self.matter = self.appointment = self.issued = self.keypad = None
            self.id_number = self.card = self.sms_phone = None
            self.appointments, self.message = [], ""
            self._go(START)

    def handle(self, action: tuple, at: float | None = None) -> bool:
        """Apply one action from the screen; False when it was ignored (in flight, or too soon)."""
        with self._lock:
            now = self.clock() if at is None else at
            if self.busy or self.screen == ISSUING:  # one request in flight per kiosk
                return False
            if at is not None and at - self.changed_at < SETTLE_SECONDS:
                return False
            self.touched_at = now
            name, *arg = action
            try:
                getattr(self, f"_on_{name}")(*arg)
            except Exception:  # e.g. a garbled server answer: a message, never a dead UI loop
                log.exception("action %r failed", action)
                self._show("操作未成功，请到服务台")
            return True

    def tick(self) -> None:
        """Called every frame: the idle timeout returns to the start screen."""
        with self._lock:
            if self.screen == START or self.busy:
                return
            limit = self.ticket_seconds if self.screen == TICKET and self.issued and self.issued.printed \
                else self.idle_seconds
            if self.clock() - max(self.touched_at, self.changed_at) > limit:
                self.home()

    def _on_large(self) -> None:
        self.large = not self.large
        if self.large:
            self.voice.say("已切换为大字模式，请选择办理事项")

    def _on_category(self, category: str) -> None:
        self.category, self.page = category, 0
        self._go(MATTERS)
        if self.large:
            self.voice.say(f"{category}，请选择事项")

    def _on_page(self, step: int) -> None:
        if self.screen in (MATERIALS, NEARBY, APPOINTMENTS, CITIZEN):  # their own page: the matters keep theirs
            self.list_page = max(0, self.list_page + step)
        else:
            self.page = max(0, self.page + step)
        self.changed_at = self.clock()

    def _on_materials(self) -> None:
        """The whole 一次告知 list of the matter being confirmed, when the confirm screen (大字模式,
        landscape) has no room for all of it: the citizen checks every paper before taking a number."""
        if self.screen != CONFIRM or self.matter is None:
            return
        self.list_page = 0
        self._go(MATERIALS)
        if self.large:
            self.voice.say("请备齐以下材料")

    def _on_back(self) -> None:
        if self.screen == MATTERS:
            self.category, self.page = "", 0
            self._go(START)
        elif self.screen == CONFIRM and self.appointment is None:
            self._go(MATTERS)
        elif self.screen == CITIZEN:
            self.home()
        elif self.screen == NEARBY:
            self._go(CONFIRM if self.matter is not None else START)
        elif self.screen == MATERIALS:
            self._go(CONFIRM if self.matter is not None else START)
        elif self.screen == KEYPAD and self.keypad and self.keypad.purpose in ("id", "sms") and self.matter:
            self.keypad = None
            self._go(CONFIRM)
        else:
            self.home()

    def _on_home(self) -> None:
        self.home()

    def _on_done(self) -> None:
        self.home()

    def _on_nearby(self) -> None:
        """附近大厅: every centre's wait now (for the matter on the confirm screen, if one), read
        again as the screen opens; the last copy if the hall does not answer."""
        self.refresh_nearby()
        if not self.nearby_linked:
            return
        self.list_page = 0
        self._go(NEARBY)
        if self.large:
            self.voice.say("附近大厅排队情况，请选择去哪里办理")

    def _on_card_menu(self) -> None:
        """From the card's own page to the matters, the card kept for the ticket."""
        self.category, self.page, self.matter, self.appointment = "", 0, None, None
        self._go(START)

    def _on_matter(self, code: str) -> None:
        matter = self.menu.matter(code)
        if matter is None:
            return
        if matter.get("issuing") is False:
            # At lunch only matters a lunch window serves are issued: say when this one is again.
            self._show(f"{matter['name']}：{not_issuing_text(matter)}，请稍后再来")
            return
        self.matter, self.appointment, self.id_number = matter, None, None
        self._go(CONFIRM)
        if self.large:
            self.voice.say(f"{matter['name']}，前面有{matter['waiting']}人等候，请按确认取号")

    # ------------------------------------------------------------------ keypad

    def _on_keypad(self, purpose: str) -> None:
        if purpose == "pin" and not self.staff_pin:
            return
        self.keypad = Keypad(purpose)
        self._go(KEYPAD)
        if purpose == "appointment":
            self.voice.say("请输入预约码或手机号码")

    def _on_key(self, key: str) -> None:
        pad = self.keypad
        if pad is None or len(pad.entry) >= pad.max_len:
            return
        if key == "X" and (pad.purpose != "id" or len(pad.entry) != 17):
            return
        pad.entry += key

    def _on_delete(self) -> None:
        if self.keypad:
            self.keypad.entry = self.keypad.entry[:-1]

    def _on_clear(self) -> None:
        if self.keypad:
            self.keypad.entry = ""

    def _on_enter(self) -> None:
        pad = self.keypad
        if pad is None or not pad.entry:
            return
        if pad.purpose == "pin":
            self.keypad = None
            if pad.entry == self.staff_pin:
                self.green = True
                self.home_keep_green()
            else:
                self._show("工作人员密码不正确")
        elif pad.purpose == "id":
            if len(pad.entry) != 18:
                return
            self.id_number, self.keypad = pad.entry, None
            self._go(CONFIRM)
        elif pad.purpose == "sms":
            if not (len(pad.entry) == 11 and pad.entry.startswith("1")):
                return
            self.sms_phone, self.keypad = pad.entry, None  # typed under a consent title: consent given
            self._go(CONFIRM)
        else:
            self._find_appointments(pad.entry)

    def home_keep_green(self) -> None:
        """After the staff unlock: the start screen, with the next ticket on the green channel."""
        self.category, self.page, self.matter = "", 0, None
        self._go(START)

    def _find_appointments(self, entry: str) -> None:
        key = "phone" if len(entry) == 11 and entry.startswith("1") else "code"
        try:
            found = self.api.get(f"/appointments?{key}={entry}").get("appointments", [])
        except Unreachable:
            self._show(OFFLINE_TEXT)
            return
        except ApiError as exc:
            log.warning("appointment lookup refused: %s", exc)
            self._show("预约查询未成功，请到服务台")
            return
        found = [a for a in found if self.menu.matter(a["service"])]
        self.keypad = None
        if not found:
            self._show("没有找到您今天的预约，请核对后重试，或直接取号")
        elif len(found) == 1:
            self._on_appointment(found[0]["code"], found)
        else:
            self.appointments = found
            self._go(APPOINTMENTS)

    def _on_appointment(self, code: str, found: list[dict] | None = None) -> None:
        appt = next((a for a in (found or self.appointments) if a["code"] == code), None)
        if appt is None:
            return
        self.appointment, self.matter = appt, self.menu.matter(appt["service"])
        self._go(CONFIRM)

    # ------------------------------------------------------------------ issuing

    def _on_confirm(self) -> None:
        if self.matter is None:
            return
        body: dict = {"service": self.matter["code"], "channel": "kiosk"}
        if self.appointment is not None:
            body["appointment"] = self.appointment["code"]
        elif self.green:
            body["priority"] = "green"
            body["priority_reason"] = "staff"
        if self.card is not None:  # 身份证取号: the server masks both and keeps only the masked number
            body["id_number"], body["name"] = self.card.id_number, self.card.name
        elif self.id_number:
            body["id_number"] = self.id_number
        if self.sms_phone:
            body["phone"], body["sms"] = self.sms_phone, True
        self.busy = True
        self._go(ISSUING)
        self._worker = threading.Thread(target=self._issue, args=(body, self.matter), daemon=True,
                                        name="kiosk-issue")
        self._worker.start()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait for the request in flight, if any (tests, bench)."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
        return not self.busy

    def _issue(self, body: dict, matter: dict) -> None:
        try:
            status = self.output.check()
            self.requests += 1
            # One key per tap: if the answer is lost (timeout, server restarting) the retry gets the
            # ticket the server may already have issued, never a second one.
            key = new_key()
            try:
                try:
                    ticket = self.api.post("/tickets", body, idempotency_key=key)
                except Unreachable:
                    time.sleep(self.retry_seconds)
                    ticket = self.api.post("/tickets", body, idempotency_key=key)
            except Unreachable as exc:
                log.warning("ticket not issued, server unreachable: %s", exc)
                with self._lock:
                    self.online = False
                    self._show(OFFLINE_TEXT)
                self.voice.say(OFFLINE_TEXT)
                return
            except ApiError as exc:
                log.warning("ticket refused: %s", exc)
                self._show(self._refusal(exc))
                return
            # What the server issued it with (a change may have landed since this screen was drawn).
            materials = ticket.get("materials", matter.get("materials", []))
            paper = ticket_print(ticket, self.menu.hall, materials, self.public_url)
            with self._lock:  # show the number now; the paper follows
                self.issued = Issued(ticket, None, "", paper.qr_payload)
                self.green = False
                self._go(TICKET)
            result = self.output.output(paper, status)
            with self._lock:
                self.issued = Issued(ticket, result.printed, result.note, paper.qr_payload, result.bytes_sent)
            said = f"您的号码是 {spoken_code(ticket['code'])}，前面还有{ticket['waiting_ahead']}人"
            self.voice.say(said + ("，请取走号票" if result.printed else "，" + result.note))
            if result.printed:
                threading.Thread(target=self._paper_check, args=(ticket, result, paper.qr_payload), daemon=True,
                                 name="kiosk-paper-check").start()
        except Exception:  # a kiosk must never hang on 请稍候
            log.exception("issuing failed")
            with self._lock:
                issued = self.issued
                if issued is not None and issued.printed is None:
                    # The server issued this number and the citizen has seen it: keep it on screen.
                    self.issued = Issued(issued.ticket, False, "号票未能打印，请拍照或扫码保存您的号码", issued.link)
                else:
                    self._show("取号未成功，请到服务台")
        finally:
            with self._lock:
                self.busy = False
                self.changed_at = self.clock()

    def _paper_check(self, ticket: dict, printed: Printed, link: str) -> None:
        """After the paper should be out: if it ran out (or the printer went) mid-ticket, the number
        goes back on the screen with its QR code, however the citizen left the ticket screen — unless
        the next citizen has begun."""
        late = self.output.whole(printed)
        if late is None:
            return
        with self._lock:
            on_screen = self.screen == TICKET and self.issued is not None and self.issued.ticket is ticket
            left = self.screen == START and self.issued is None and self.matter is None and not self.busy
            if not (on_screen or left):
                return  # the next citizen is at the kiosk: the staff alert covers it
            self.issued = Issued(ticket, False, late.note, link, late.bytes_sent)
            self._go(TICKET)
        self.voice.say(late.note)

    def _refusal(self, exc: ApiError) -> str:
        if exc.status in (401, 403):
            return OFFLINE_TEXT  # a kiosk token problem is the staff's, not the citizen's
        if exc.body.get("field") == "id_number":
            return "身份证号码有误，请核对后重新输入"
        if exc.code == "outside_checkin":
            before, after = self.checkin_window
            return f"不在预约签到时间内（预约时段前{before}分钟至开始后{after}分钟），请到服务台"
        return REFUSALS.get(exc.code, "取号未成功，请到服务台咨询")

    def _show(self, text: str) -> None:
        with self._lock:
            self.message = text
            self._go(MESSAGE)
