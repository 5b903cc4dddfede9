"""适老化 (工信部 2021: 《互联网网站适老化通用设计规范》 and the App rules) on every kiosk screen, in
the standard and the elderly (大字) mode, portrait 1080×1920 and landscape: text in the elderly mode
at least 1.5× the standard size, touch targets at least 60×60 px, text contrast at least 4.5:1, no
label that wraps when it could fit, spills out of or is cut off in its button, no line that starts
with closing punctuation (a lone "）"); ID numbers hidden while typed but for the last four; bold
drawn with the font's real bold face, never pygame's synthetic bold.

The kiosk is the real pygame loop headless against a real server for the demo county hall; what is
checked is what `Screens` drew: its texts with their pixel size, colour and place, and its buttons.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pygame
import pytest
from kioskrig import Rig
from liveserver import all_day_config, serve_app

from hallq.config import load_config
from kiosk.app import ISSUING, NEARBY, REFUSALS, START
from kiosk.screens import NO_LINE_START, Screens
from kiosk.ui import LANDSCAPE, PORTRAIT

REPO = Path(__file__).resolve().parents[1]
ID_NUMBER = "11010519491231002X"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from server.app import create_app

    tmp = tmp_path_factory.mktemp("elderly")
    config = load_config(all_day_config(REPO / "config" / "demo-hall.toml", tmp / "hall.toml"))
    app = create_app(config, tmp / "hall.db", supervise=False)
    with serve_app(app) as url:
        yield url


def luminance(c) -> float:
    def ch(v: float) -> float:
        v /= 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * ch(c[0]) + 0.7152 * ch(c[1]) + 0.0722 * ch(c[2])


def contrast(a, b) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def background(surf: pygame.Surface, rect: pygame.Rect):
    """The colour behind a text: the commonest colour on the edge of its (padded) image."""
    r = rect.clip(surf.get_rect())
    edge = [surf.get_at((x, y))[:3] for x in range(r.left, r.right, 3) for y in (r.top, r.bottom - 1)]
    edge += [surf.get_at((x, y))[:3] for y in range(r.top, r.bottom, 3) for x in (r.left, r.right - 1)]
    return Counter(edge).most_common(1)[0][0] if edge else None  # off the screen: reported as such


def frame(rig: Rig, large: bool):
    """Draw the current screen in one mode: (texts drawn, buttons, surface copy)."""
    rig.app.large = large
    rig.ui.draw()
    return list(rig.ui.screens.drawn), list(rig.ui.buttons), rig.ui.surface.copy()


def every_screen(rig: Rig):
    """Walk the kiosk through every screen; yields (name) with the rig showing it."""
    app = rig.app
    menu = app.menu
    yield "start"
    app.green = True
    yield "start-green"
    app.green = False
    big = max(menu.categories, key=lambda c: len(menu.in_category(c)))
    rig.tap_paged(("category", big))
    yield "matters"
    rig.tap(("page", 1))
    yield "matters-page-2"
    rig.tap(("page", -1))
    rig.tap(("back",))
    rig.tap_paged(("category", "一件事"))
    rig.tap_paged(("matter", "B02"))
    yield "confirm-bundle"
    app._on_materials()  # the whole 一次告知 list ("查看全部 N 项材料" where the confirm screen has no room)
    rig.ui.draw()
    yield "materials"
    app.list_page = 1
    yield "materials-page-2"
    rig.tap(("back",))
    rig.tap(("keypad", "id"))
    yield "keypad-id-empty"
    for key in ID_NUMBER:
        rig.tap(("key", key))
    yield "keypad-id-typed"
    rig.tap(("enter",))
    yield "confirm-with-id"
    app.home()
    rig.ui.draw()
    rig.tap_paged(("category", big))
    longest = max(menu.in_category(big), key=lambda m: len(m["name"]))
    rig.tap_paged(("matter", longest["code"]))
    yield "confirm"
    rig.tap(("confirm",))
    rig.settle()
    yield "ticket-printed"
    rig.paper_checked()  # that ticket is whole: the paper runs out for the next one
    rig.sim.paper = "out"
    rig.tap(("done",))
    rig.tap_paged(("category", big))
    rig.tap_paged(("matter", longest["code"]))
    rig.tap(("confirm",))
    rig.settle()
    yield "ticket-on-screen"
    rig.sim.paper = "ok"
    app.screen = ISSUING
    yield "issuing"
    app.home()
    rig.ui.draw()
    for purpose in ("appointment", "pin"):
        rig.tap(("keypad", purpose))
        for key in "1390000":
            rig.tap(("key", key))
        yield f"keypad-{purpose}"
        app.home()
        rig.ui.draw()
    app.appointments = [{"code": f"1234567{i}", "service": longest["code"], "service_name": longest["name"],
                         "slot_start": f"2026-12-01T{9 + i:02d}:00:00+08:00"} for i in range(3)]
    app._go("appointments")
    yield "appointments"
    rig.tap(("appointment", "12345671"))
    yield "confirm-appointment"
    app.home()
    rig.ui.draw()
    from kiosk.idcard import CITIZEN, CardHolder  # the ID card's own page (身份证取号)
    app.card = CardHolder("11010519491231002X", "欧阳建国", appointments=app.appointments[:1], tickets=[
        {"code": "A012", "matter": {"name": longest["name"]}, "state_name": "等候中",
         "position": {"ahead": 5}},
        {"code": "B003", "matter": {"name": "企业设立登记"}, "state_name": "已叫号", "window": {"name": "3号窗口"}}])
    app._go(CITIZEN)
    yield "citizen-by-id-card"
    app.home()
    rig.ui.draw()
    app.nearby = {"linked": True, "stale": False, "as_of": "2026-12-01T10:05:00+08:00", "halls": [  # 附近大厅
        {"code": "YX", "name": "云溪县政务服务中心", "own": True, "link": "online", "waiting": 12, "windows_open": 9,
         "services": [{"code": longest["code"], "waiting": 4, "estimate_minutes": 18.0}]},
        {"code": "QS", "name": "青石镇便民服务中心", "link": "offline", "as_of": "2026-12-01T09:40:00+08:00",
         "waiting": 2, "windows_open": 1, "services": []},
        {"code": "SQ", "name": "石桥村便民服务站", "link": "never", "waiting": 0, "windows_open": 0, "services": []}]}
    app._go(NEARBY)
    yield "nearby"
    app.nearby["stale"] = True
    app.matter = longest
    yield "nearby-matter-stale"
    app.nearby = None
    app.home()
    rig.ui.draw()
    for i, text in enumerate([*REFUSALS.values(), "没有找到您今天的预约，请核对后重试，或直接取号"]):
        app._show(text)
        yield f"message-{i}"
    app.home()
    app.online = False
    yield "offline"
    app.online = True
    assert app.screen == START


@pytest.mark.parametrize(("orientation", "size"), [("portrait", PORTRAIT), ("landscape", LANDSCAPE)])
def test_every_screen_in_both_modes_meets_the_elderly_rules(demo, orientation, size):
    rig = Rig(demo, size=size, token="demo-kiosk-1")
    problems: list[str] = []
    seen = 0
    try:
        for name in every_screen(rig):
            seen += 1
            standard = frame(rig, False)
            large = frame(rig, True)
            rig.ui.screenshot(Path(REPO / "test-artifacts" / "kiosk" / f"elderly-{orientation}-{name}.png"))
            rig.app.large = False
            rig.ui.draw()  # the taps that follow hit the standard screen
            problems += check_sizes(name, standard[0], large[0])
            for mode, (texts, buttons, surf) in (("standard", standard), ("large", large)):
                where = f"{name} ({mode})"
                problems += check_targets(where, buttons)
                problems += check_contrast(where, texts, surf)
                problems += check_labels(where, texts, buttons, surf.get_rect())
                if name == "keypad-id-typed":
                    problems += check_masked(where, texts)
    finally:
        rig.close()
    assert seen >= 20
    assert problems == [], "\n".join(problems)


def check_sizes(name: str, standard: list, large: list) -> list[str]:
    """Every text drawn in both modes is at least 1.5× as large in the elderly one."""
    small = {}
    for text, px, *_ in standard:
        small[text] = min(px, small.get(text, px))
    out = []
    common = 0
    for text, px, *_ in large:
        if text in small:
            common += 1
            if px < 1.5 * small[text] - 1:  # pixel sizes are whole numbers
                out.append(f"{name}: {text!r} is {px} px in the elderly mode, {small[text]} px standard")
    if common == 0 and standard:
        out.append(f"{name}: nothing drawn in both modes to compare")
    return out


def check_targets(where: str, buttons: list) -> list[str]:
    return [f"{where}: button {b.label!r} is {b.rect.width}×{b.rect.height} px" for b in buttons
            if b.action is not None and (b.rect.width < 60 or b.rect.height < 60)]


def check_contrast(where: str, texts: list, surf: pygame.Surface) -> list[str]:
    out = []
    for text, _, colour, rect in texts:
        if not text.strip():
            continue
        bg = background(surf, rect)
        if bg is None:
            continue
        ratio = contrast(colour[:3], bg)
        if ratio < 4.5:
            out.append(f"{where}: {text!r} {colour} on {bg} has contrast {ratio:.2f}")
    return out


def check_labels(where: str, texts: list, buttons: list, screen: pygame.Rect) -> list[str]:
    out = []
    for text, _, _, rect in texts:
        if not screen.contains(rect):
            out.append(f"{where}: {text!r} goes off the screen")
        if text[:1] in NO_LINE_START:
            out.append(f"{where}: a line starts with {text[:1]!r}: {text!r}")
    for b in buttons:
        inside = [(rect, text) for text, _, _, rect in texts if b.rect.collidepoint(rect.center)]
        lines = [text for rect, text in inside if text != b.sub]
        if "".join(lines) != b.label:
            out.append(f"{where}: button {b.label!r} shows {lines!r}")
        if len(b.label) <= 10 and len(lines) > 1:
            out.append(f"{where}: short label {b.label!r} wraps into {lines!r}")
        for rect, text in inside:
            # The text's ink, not its line box, must stay inside: allow the font's blank ascent room.
            if rect.left < b.rect.left or rect.right > b.rect.right or \
                    rect.top < b.rect.top - rect.height // 4 or rect.bottom > b.rect.bottom + rect.height // 4:
                out.append(f"{where}: {text!r} spills out of its button {b.label!r} ({rect} in {b.rect})")
    return out


def check_masked(where: str, texts: list) -> list[str]:
    shown = [text for text, *_ in texts if any(ch.isdigit() for ch in text) and "*" in text]
    if shown != ["*" * 14 + ID_NUMBER[-4:]]:
        return [f"{where}: the ID number shows as {shown!r}"]
    leaked = [text for text, *_ in texts if ID_NUMBER[:6] in text]
    return [f"{where}: the ID number is visible in {leaked!r}"] if leaked else []


def test_bold_is_the_fonts_real_bold_face_never_synthetic():
    from fontTools.ttLib import TTFont

    from hallq.fonts import bold_face, find_cjk_font

    pygame.font.init()
    regular = find_cjk_font()
    bold = bold_face(regular)
    assert bold is not None, "bin/hallq installs fonts-noto-cjk, which has a bold weight"
    assert TTFont(str(bold), lazy=True)["OS/2"].usWeightClass >= 700
    screens = Screens(PORTRAIT, regular)
    surf = pygame.Surface((200, 120))
    for large in (1.0, 1.5):
        screens.k = large
        surf.fill((255, 255, 255))
        rect = screens.text(surf, "删除", 46, (0, 0, 0), (0, 0), "topleft", bold=True)
        want = pygame.font.Font(str(bold), screens.px(46)).render("删除", True, (0, 0, 0))
        ref = pygame.Surface((200, 120))
        ref.fill((255, 255, 255))
        ref.blit(want, (0, 0))
        assert rect.size == want.get_size()
        assert pygame.image.tobytes(surf, "RGB") == pygame.image.tobytes(ref, "RGB")


def test_a_font_without_a_bold_face_is_drawn_plain_not_smeared():
    wqy = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
    if not wqy.is_file():
        pytest.skip("fonts-wqy-microhei is not installed")
    pygame.font.init()
    screens = Screens(PORTRAIT, wqy)
    a, b = pygame.Surface((200, 100)), pygame.Surface((200, 100))
    for surf, bold in ((a, True), (b, False)):
        surf.fill((255, 255, 255))
        screens.text(surf, "删除", 46, (0, 0, 0), (0, 0), "topleft", bold=bold)
    assert pygame.image.tobytes(a, "RGB") == pygame.image.tobytes(b, "RGB")


@pytest.mark.parametrize(("orientation", "size"), [("portrait", PORTRAIT), ("landscape", LANDSCAPE)])
def test_every_nearby_centre_is_on_a_page_of_its_own_in_the_elderly_mode(demo, orientation, size):
    """附近大厅 in 大字模式 has room for few centres (one in landscape): the rest are paged through, never
    left to a "请扫码" with no code on the screen."""
    rig = Rig(demo, size=size, token="demo-kiosk-1")
    names = [f"{town}镇便民服务中心" for town in ("青石", "石桥", "柳溪", "云岭", "白沙", "龙泉", "桃源", "松林", "金竹")]
    try:
        app = rig.app
        app.nearby = {"linked": True, "stale": False, "as_of": "2026-12-01T10:05:00+08:00", "halls": [
            {"code": f"T{i}", "name": name, "link": "online", "waiting": i, "windows_open": 2, "services": []}
            for i, name in enumerate(names)]}
        app.large = True
        app.list_page = 0
        app._go(NEARBY)
        rig.ui.draw()
        seen, pages = "", 0
        while True:
            pages += 1
            drawn = "".join(t[0] for t in rig.ui.screens.drawn)
            assert "请扫码" not in drawn
            seen += drawn
            if ("page", 1) not in [b.action for b in rig.ui.buttons]:
                break
            rig.tap(("page", 1))
            assert pages < 10
        assert [n for n in names if n not in seen] == []
        assert pages > 1  # nine centres do not fit one large-mode screen
        rig.tap(("back",))
        assert app.screen == START
    finally:
        rig.close()


LONG_MATTER = "省级行政区划内跨部门跨层级联合审批的建设工程项目规划许可及施工许可证核发与竣工联合验收备案登记一件事集成办理"


def long_named_app():
    """A hall (unseen, no server) with 50-character names everywhere a list shows them: 21 departments
    (a 50-character one among the demo-like short ones), matters and 一件事 bundles, appointments,
    centres nearby, the materials, the citizen's own tickets."""
    from hallq.client import ApiClient
    from kiosk.app import KioskApp, Menu
    from kiosk.printing import TicketOutput

    app = KioskApp(ApiClient("http://127.0.0.1:9", "t"), TicketOutput(None), public_url="http://hall.example/")
    app.online = True
    long = LONG_MATTER[:50]
    matter = {"code": "S1", "name": long, "category": long, "waiting": 12, "on_duty": False,
              "case_kind": "承诺", "promised_days": 20, "materials": [f"{i}号{long}"[:50] for i in range(12)]}
    services = [matter]
    services += [{"code": f"S{i:02d}", "name": f"{i:02d}{long}"[:50], "category": long, "waiting": i}
                 for i in range(2, 8)]
    services += [{"code": f"D{i:02d}", "name": f"部门{i}事项", "category": f"{i:02d}{long}"[:50], "waiting": 1}
                 for i in range(2, 21)]
    services += [{"code": f"B{i}", "name": f"{i}{long}"[:50], "category": "一件事", "kind": "bundle",
                  "steps": [{"code": "S1"}] * 3, "waiting": 2} for i in range(3)]
    app.menu = Menu(hall={"name": "测试县政务服务中心", "hotline": "12345"}, services=services)
    app.matter = matter
    app.nearby = {"linked": True, "halls": []}  # 附近大厅 beside 预约签到 on the start screen: its fullest row
    return app


LONG_MATTER = "省级行政区划内跨部门跨层级联合审批的建设工程项目规划许可及施工许可证核发与竣工联合验收备案登记一件事集成办理"


def long_name_screens(app):
    """Put the long-named app on each of its screens; yields (name, the names it must show in full)."""
    from kiosk.app import APPOINTMENTS, CONFIRM, MATERIALS, MATTERS, TICKET, Issued
    from kiosk.idcard import CITIZEN, CardHolder

    menu, matter, long = app.menu, app.matter, LONG_MATTER[:50]
    app.screen = START
    yield "start", menu.categories
    app.screen, app.category, app.page = MATTERS, long, 0
    yield "matters", [m["name"] for m in menu.in_category(long)]
    app.category, app.page = "一件事", 0
    yield "bundles", [m["name"] for m in menu.in_category("一件事")]
    app.screen, app.page = CONFIRM, 0
    yield "confirm", []
    app.screen, app.list_page = MATERIALS, 0
    yield "materials", [f"{i}. " for i in range(1, 13)]
    app.appointments = [{"code": f"1234567{i}", "service": "S1", "service_name": f"{i}{long}"[:50],
                         "slot_start": f"2026-12-01T{9 + i:02d}:00:00+08:00"} for i in range(6)]
    app.screen, app.list_page = APPOINTMENTS, 0
    yield "appointments", [a["service_name"] for a in app.appointments]
    app.card = CardHolder(ID_NUMBER, "欧阳建国", appointments=app.appointments[:3], tickets=[
        {"code": f"A01{i}", "matter": {"name": f"{i}{long}"[:50]}, "state_name": "等候中", "position": {"ahead": 5}}
        for i in range(3)])
    app.screen, app.list_page = CITIZEN, 0
    yield "citizen", [f"预约签到：{a['service_name']}" for a in app.card.appointments] + \
        [t["code"] for t in app.card.tickets]
    app.card = None
    app.nearby = {"linked": True, "stale": False, "as_of": "2026-12-01T10:05:00+08:00", "halls": [
        {"code": f"T{i}", "name": f"{i}{long}"[:50], "link": "online", "waiting": i, "windows_open": 2,
         "services": [{"code": "S1", "waiting": i, "estimate_minutes": 5.0 * i}]} for i in range(4)]}
    app.screen, app.list_page = NEARBY, 0
    yield "nearby", [h["name"] for h in app.nearby["halls"]]
    ticket = {"id": "x", "code": "A0012", "matter": {"name": matter["name"]}, "waiting_ahead": 11,
              "priority": "normal", "position": {"on_duty": False}}
    for printed in (True, False):
        app.screen = TICKET
        app.issued = Issued(ticket, printed, "" if printed else "本机不打印号票，请拍照或扫码保存您的号码",
                            "http://hall.example/t/x")
        yield f"ticket-printed-{printed}", []


def pages_of(screens: Screens, surf: pygame.Surface, app):
    """Every page of the current screen: (texts drawn, buttons) per page, from the first."""
    app.page = app.list_page = 0
    out = []
    while True:
        buttons = screens.draw(surf, app)
        out.append((list(screens.drawn), buttons))
        if ("page", 1) not in [b.action for b in buttons] or len(out) > 40:
            return out
        app.handle(("page", 1))


def check_full_size(where: str, texts: list, buttons: list, large: bool, u: float) -> list[str]:
    """A button's label is drawn at its full size, never shrunk to fit: 46 px at 1080 standard, 1.5×
    that in 大字模式 (issue #13) — a long name gets a taller button, fewer columns, more pages."""
    want = int(46 * u * (1.5 if large else 1.0))
    out = []
    for b in buttons:
        for text, px, _, rect in texts:
            if b.rect.collidepoint(rect.center) and text != b.sub and px < want - 1:
                out.append(f"{where}: {text!r} of button {b.label[:12]!r}… is {px} px, not {want}")
    return out


def check_scaled(name: str, standard: list, large: list) -> list[str]:
    """check_sizes for texts that wrap differently in the two modes: a large-mode line is compared
    with the standard-mode lines that share four characters with it (the same name, wrapped)."""
    out = []
    for text, px, *_ in large:
        grams = {text[i:i + 4] for i in range(len(text) - 3)} or {text}  # a short tail: itself only
        sizes = [spx for s, spx, *_ in standard if (s == text if len(text) < 4 else any(g in s for g in grams))]
        if sizes and min(sizes) < 150 and px < 1.5 * min(sizes) - 1:  # not the ticket number: as wide as the screen
            out.append(f"{name}: {text!r} is {px} px in the elderly mode, {min(sizes)} px standard")
    return out


@pytest.mark.parametrize(("orientation", "size"), [("portrait", PORTRAIT), ("landscape", LANDSCAPE)])
def test_a_50_character_matter_name_pushes_nothing_under_the_buttons_or_off_the_screen(orientation, size):
    """An unseen hall's 50-character matter, 大字模式: on the confirm screen its name pushed the
    承诺件 line under 返回 (landscape); on the ticket it pushed the waiting line off the screen
    (landscape) or the QR code off the screen of a kiosk that printed nothing (portrait), which still
    said 扫码保存; a ticket code of width 4 ("A0012") ran off a portrait screen. 50-character
    departments shrank below the standard size in 大字模式 (landscape, 3 a page): every list screen
    (departments, matters, bundles, appointments, the citizen's page, centres nearby, materials) keeps
    its labels 1.5× the standard size on every page, shows every item and puts nothing under a
    button or off the screen. Drawn without a server: the screens are the app's state."""
    from hallq.fonts import find_cjk_font

    pygame.display.init()
    pygame.font.init()
    app = long_named_app()
    screens = Screens(size, find_cjk_font(), "大厅1号取号机", staff_button=True)
    surf = pygame.Surface(size)
    problems = []
    for name, names in long_name_screens(app):
        modes = {}
        for large in (False, True):
            app.large = large
            pages = pages_of(screens, surf, app)
            modes[large] = pages
            for n, (texts, buttons) in enumerate(pages):
                where = f"{name} page {n + 1} large={large}"
                problems += check_labels(where, texts, buttons, surf.get_rect())
                problems += check_full_size(where, texts, buttons, large, screens.u)
                problems += check_targets(where, buttons)
                foot = max(r.top for t, _, _, r in texts if "大厅1号取号机" in t)
                for text, _, _, rect in texts:
                    ink = rect.inflate(0, -rect.height // 3)
                    if not any(b.rect.collidepoint(rect.center) for b in buttons) and \
                            any(b.rect.colliderect(ink) for b in buttons):
                        problems.append(f"{where}: {text!r} is under a button")
                    if "大厅1号取号机" not in text and ink.bottom > foot:
                        problems.append(f"{where}: {text!r} runs into the footer")
                if name == "ticket-printed-False" and "扫码查看排队进度" not in [t for t, *_ in texts]:
                    problems.append(f"{where}: no QR code on screen although nothing printed")
            shown = "".join(t for texts, _ in pages for t, *_ in texts) + \
                "".join(b.label for _, buttons in pages for b in buttons)
            problems += [f"{name} large={large}: {item!r} is on no page" for item in names if item not in shown]
        problems += check_scaled(name, [t for texts, _ in modes[False] for t in texts],
                                 [t for texts, _ in modes[True] for t in texts])
    assert problems == [], "\n".join(problems)
