"""Every kiosk screen, portrait and landscape, on the demo county hall: screenshots for people to look
at (test-artifacts/kiosk/, gitignored), paging through long lists, and every glyph in the font."""

from __future__ import annotations

from pathlib import Path

import pytest
from kioskrig import Rig
from liveserver import all_day_config, serve_app

from hallq.config import load_config
from hallq.fonts import missing_glyphs
from kiosk.app import ISSUING, MATTERS, REFUSALS, START
from kiosk.ui import LANDSCAPE, PORTRAIT

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from server.app import create_app, stop_app

    tmp = tmp_path_factory.mktemp("demo")
    config = load_config(all_day_config(REPO / "config" / "demo-hall.toml", tmp / "hall.toml"))
    app = create_app(config, tmp / "hall.db", supervise=False)
    with serve_app(app) as url:
        yield url, config
    stop_app(app)


def biggest_category(rig: Rig) -> str:
    menu = rig.app.menu
    return max(menu.categories, key=lambda c: len(menu.in_category(c)))


@pytest.mark.parametrize(("orientation", "size"), [("portrait", PORTRAIT), ("landscape", LANDSCAPE)])
def test_every_screen_drawn_with_every_glyph(demo, orientation, size):
    rig = Rig(demo[0], size=size, token="demo-kiosk-1")
    name = f"{orientation}"
    try:
        shot = rig.shot
        shot(f"{name}-01-start")
        rig.tap(("large",))
        shot(f"{name}-02-start-large")
        category = biggest_category(rig)
        rig.tap_paged(("category", category))
        shot(f"{name}-03-matters-large")
        rig.tap(("back",))
        rig.tap(("large",))
        rig.tap_paged(("category", category))
        assert rig.app.screen == MATTERS
        shot(f"{name}-04-matters")
        shown = [b.action[1] for b in rig.ui.buttons if b.action and b.action[0] == "matter"]
        in_category = [m["code"] for m in rig.app.menu.in_category(category)]
        if len(in_category) > len(shown):  # a long list pages
            rig.tap(("page", 1))
            shot(f"{name}-05-matters-page-2")
            second = [b.action[1] for b in rig.ui.buttons if b.action and b.action[0] == "matter"]
            assert second and not set(second) & set(shown) and second[0] == in_category[len(shown)]
            rig.tap(("page", -1))
        with_materials = max(rig.app.menu.in_category(category), key=lambda m: len(m.get("materials", [])))
        rig.tap_paged(("matter", with_materials["code"]))
        shot(f"{name}-06-confirm")
        rig.tap(("keypad", "id"))
        shot(f"{name}-07-keypad-id")
        rig.tap(("back",))
        rig.tap(("confirm",))
        rig.settle()
        shot(f"{name}-08-ticket")
        rig.paper_checked()  # ticket 08 is whole: the paper runs out for the next one
        rig.sim.paper = "out"
        rig.tap(("done",))
        rig.tap_paged(("category", category))
        rig.tap_paged(("matter", with_materials["code"]))
        rig.tap(("confirm",))
        rig.settle()
        assert rig.app.issued.printed is False
        shot(f"{name}-09-ticket-on-screen")
        rig.app.screen = ISSUING  # the request is too fast to catch in flight
        shot(f"{name}-10-issuing")
        for i, text in enumerate([*REFUSALS.values(), "没有找到您今天的预约，请核对后重试，或直接取号"]):
            rig.app._show(text)
            shot(f"{name}-11-message-{i}")
        rig.app.home()
        rig.app.online = False
        shot(f"{name}-12-start-offline")
        rig.app.online = True
        assert rig.app.screen == START
        rig.app.green = True
        shot(f"{name}-13-start-green")

        texts = set(rig.ui.screens.texts)
        texts |= {m["name"] for m in rig.app.menu.services} | {rig.app.menu.hall["name"]}
        texts |= {m for s in rig.app.menu.services for m in s.get("materials", [])}
        assert missing_glyphs(rig.font, "".join(texts)) == set()
    finally:
        rig.close()


def test_what_was_drawn_stays_bounded_and_keeps_no_typed_numbers():
    """A kiosk runs for months: the glyph record must not grow with every phone number typed."""
    import pygame

    from hallq.fonts import find_cjk_font
    from kiosk.screens import Screens

    pygame.font.init()
    screens = Screens(PORTRAIT, find_cjk_font())
    surf = pygame.Surface((200, 100))
    for n in range(2000):
        screens.text(surf, f"138{n:08d}", 40, (0, 0, 0), (0, 0))
    assert len(screens.texts) <= 10 and "13800001999" not in screens.texts
