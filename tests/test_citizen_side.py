"""What the citizen gets on day one (#13): 一件事 一次告知 everywhere, tickets that say what they are,
where to wait and what 过号 means, a QR code phones can open, the hall's clock, a Chinese 404.

A real server for the demo county hall (open all day), the kiosk's real pygame loop headless with a
printer simulator on a pty; printed tickets are checked by decoding the ESC/POS bytes the printer got.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from kioskrig import Rig
from liveserver import all_day_config, daytime_clock, serve_app

from drivers.sim import wait_for
from hallq.client import ApiClient
from hallq.config import ConfigError, load_config, parse_config
from kiosk.app import CONFIRM, TICKET
from kiosk.ui import LANDSCAPE, PORTRAIT

REPO = Path(__file__).resolve().parents[1]
KIOSK = "demo-kiosk-1"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from server.app import create_app

    tmp = tmp_path_factory.mktemp("citizen")
    config = load_config(all_day_config(REPO / "config" / "demo-hall.toml", tmp / "hall.toml"))
    app = create_app(config, tmp / "hall.db", clock=daytime_clock(config.rules.timezone), supervise=False)
    with serve_app(app) as url:
        yield url, config, app


@pytest.fixture
def rig(demo):
    r = Rig(demo[0], token=KIOSK)
    yield r
    r.close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def union(config, code: str) -> list[str]:
    steps = config.bundles[code].steps
    return list(dict.fromkeys(m for s in steps for m in config.services[s].materials))


def test_bundles_list_every_steps_materials_once_in_the_api_and_on_the_citizen_page(demo):
    base, config, _ = demo
    menu = ApiClient(base).get("/services")
    bundles = {s["code"]: s for s in menu["services"] if s["kind"] == "bundle"}
    assert set(bundles) == set(config.bundles)
    for code, row in bundles.items():
        want = union(config, code)
        assert row["materials"] == want and len(want) == len(set(want)) and want
    b02 = bundles["B02"]["materials"]  # 17 papers over 5 steps, 10 different ones
    assert "不动产权证书" in b02 and "燃气卡" in b02 and b02.count("买卖双方居民身份证") == 1

    ticket = ApiClient(base, KIOSK).post("/tickets", {"service": "B02"})
    assert ApiClient(base).get(f"/tickets/{ticket['id']}")["materials"] == union(config, "B02")
    status, page = get(base + ticket["page"])
    assert status == 200 and "燃气卡" in page and "最近一期水费结清凭证" in page  # not only step 1's


def test_bundle_ticket_shows_and_prints_the_whole_list_and_says_yijianshi(rig, demo):
    config = demo[1]
    rig.tap(("category", "一件事"))
    rig.tap_paged(("matter", "B02"))
    rig.shot("citizen-bundle-confirm")
    drawn = rig.ui.screens.texts
    assert set("燃气卡") <= drawn  # the last step's papers are on the confirm screen too
    rig.tap(("confirm",))
    rig.settle()
    assert rig.app.screen == TICKET and rig.app.issued.printed is True
    assert wait_for(lambda: rig.sim.jobs and rig.sim.jobs[-1].cut, timeout=5)
    job = rig.sim.jobs[-1]
    lines = job.lines
    for i, item in enumerate(union(config, "B02"), 1):
        assert any(line.startswith(f"{i}. {item[:18]}") for line in lines), item
    mark = next(item for item in job.items if getattr(item, "text", "").startswith("【"))
    assert mark.text == "【一件事】" and mark.style.width == 2 and mark.style.bold
    assert "一件事：5 个环节依次办理，无需重新取号" in lines
    assert config.waiting_area in lines
    assert any(line.startswith("过号规则：叫号 3 次未到按过号处理") for line in lines)  # recall_limit 2 → 3 calls
    assert len(job.raw) < 2200  # the datasheet: keep a ticket around 2 KB


@pytest.mark.parametrize("size", [PORTRAIT, LANDSCAPE])
def test_the_elderly_mode_shows_every_paper_of_a_bundle_on_the_kiosk_before_the_ticket(demo, size):
    """一次告知 before the number is taken: in 大字模式 the confirm screen has room for a few papers
    (landscape: none), so the rest is one tap away on a paged list, each paper on some page."""
    rig = Rig(demo[0], token=KIOSK, size=size)
    try:
        rig.tap(("large",))
        rig.tap_paged(("category", "一件事"))
        rig.tap_paged(("matter", "B02"))
        want = union(demo[1], "B02")
        seen = {t for t, *_ in rig.ui.screens.drawn}
        if not set(want) <= {s.split(". ", 1)[-1] for s in seen}:
            rig.tap(("materials",))
            for _ in range(len(want)):
                seen |= {t for t, *_ in rig.ui.screens.drawn}
                if not any(b.action == ("page", 1) for b in rig.ui.buttons):
                    break
                rig.tap(("page", 1))
            rig.shot(f"citizen-bundle-materials-{size[0]}")
            rig.tap(("back",))
            assert rig.app.screen == CONFIRM and rig.app.large
        listed = {s.split(". ", 1)[-1] for s in seen}
        assert [m for m in want if m not in listed] == []
    finally:
        rig.close()


def test_green_and_appointment_tickets_are_marked(rig, demo):
    base = demo[0]
    rig.tap(("keypad", "pin"))
    for key in "2468":
        rig.tap(("key", key))
    rig.tap(("enter",))
    rig.tap(("category", "社保医保"))
    first = rig.app.menu.in_category("社保医保")[0]["code"]
    rig.tap_paged(("matter", first))
    rig.tap(("confirm",))
    rig.settle()
    assert rig.app.issued.ticket["priority"] == "green"
    assert wait_for(lambda: rig.sim.jobs and rig.sim.jobs[-1].cut, timeout=5)
    assert "【优先】" in rig.sim.jobs[-1].lines and "绿色通道：优先叫号办理" in rig.sim.jobs[-1].lines

    now = rig.app.hall_now()
    slot = (now + timedelta(minutes=30 - now.minute % 30)).replace(second=0, microsecond=0)  # the next slot
    ApiClient(base, "demo-admin").post("/appointments", {"service": first, "slot_start": slot.strftime("%Y-%m-%dT%H:%M:00"),
                                                         "phone": "13900002222"})
    rig.tap(("done",))
    rig.tap(("keypad", "appointment"))
    for key in "13900002222":
        rig.tap(("key", key))
    rig.tap(("enter",))
    rig.tap(("confirm",))
    rig.settle()
    assert rig.app.issued.ticket["priority"] == "appointment"
    assert wait_for(lambda: len(rig.sim.jobs) >= 2 and rig.sim.jobs[-1].cut and "【预约】" in rig.sim.jobs[-1].lines,
                    timeout=5)
    rig.tap(("done",))
    rig.tap(("category", "社保医保"))
    rig.tap_paged(("matter", first))
    rig.tap(("confirm",))
    rig.settle()
    assert wait_for(lambda: len(rig.sim.jobs) >= 3 and rig.sim.jobs[-1].cut, timeout=5)
    assert not any(line.startswith("【") for line in rig.sim.jobs[-1].lines)  # a walk-in is not marked


def test_the_kiosk_header_shows_the_halls_clock_not_the_pcs(rig, demo):
    """The server's clock (as on the ticket), carried on with the kiosk's own clock between menus."""
    hall_now = rig.app.hall_now()
    server_now = datetime.fromisoformat(ApiClient(demo[0]).get("/services")["hall"]["now"])
    assert abs((server_now - hall_now).total_seconds()) < 30
    from kiosk.screens import Screens

    rig.app._hall_clock = (datetime.fromisoformat("2026-12-01T10:10:00+08:00"), rig.clock(), 1.0)
    rig.clock.advance(125)
    screens = Screens(rig.ui.size, rig.font)
    drawn: list[str] = []
    real_text = screens.text
    screens.text = lambda surf, s, *a, **k: (drawn.append(s), real_text(surf, s, *a, **k))[1]
    screens.draw(rig.ui.surface, rig.app)
    assert "10:12" in drawn


def test_the_offline_screen_names_the_hall_even_before_the_server_answered(tmp_path):
    import pygame

    from hallq.fonts import find_cjk_font
    from kiosk.app import KioskApp
    from kiosk.printing import TicketOutput
    from kiosk.screens import Screens

    pygame.font.init()
    app = KioskApp(ApiClient("http://127.0.0.1:9", None, timeout=0.5), TicketOutput(None), public_url="http://hall",
                   hall_name="云溪县政务服务中心")
    assert app.refresh_menu() is False
    screens = Screens((1080, 1920), find_cjk_font())
    drawn: list[str] = []
    real_text = screens.text
    screens.text = lambda surf, s, *a, **k: (drawn.append(s), real_text(surf, s, *a, **k))[1]
    screens.draw(pygame.Surface((1080, 1920)), app)
    assert drawn.count("云溪县政务服务中心") >= 2 and "暂停取号，请到服务台" in drawn
    assert not any(":" in s and len(s) == 5 for s in drawn)  # no clock from this PC


@pytest.mark.parametrize("path", ["/t/no-such-ticket", "/t/", "/t/a/b"])
def test_a_broken_ticket_link_gets_a_chinese_page(demo, path):
    status, page = get(demo[0] + path)
    assert status == 404
    assert "未找到这张号票" in page and "重新扫描号票上的二维码" in page
    assert "Not Found" not in page and "no such ticket" not in page and "/login" not in page


def test_other_missing_pages_are_chinese_too(demo):
    status, page = get(demo[0] + "/no-such-page")
    assert status == 404 and "没有找到要访问的内容" in page and "Not Found" not in page


def test_the_kiosk_refuses_a_loopback_public_url_unless_testing(tmp_path):
    config = all_day_config(REPO / "config" / "demo-hall.toml", tmp_path / "hall.toml")

    def kiosk(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "hallq.cli", "kiosk", "--config", str(config), *extra],
                              cwd=REPO, capture_output=True, text=True, timeout=30,
                              env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "SDL_VIDEODRIVER": "dummy",
                                   "HOME": str(tmp_path)})

    unset = kiosk("--server", "http://127.0.0.1:8080")
    assert unset.returncode != 0
    assert f"{config}: hall.public_url is not set" in unset.stderr and "--testing" in unset.stderr
    assert "http://127.0.0.1:8080/t/" in unset.stderr
    given = kiosk("--server", "http://10.0.0.5:8080", "--public-url", "http://localhost:8080")
    assert given.returncode != 0 and "--public-url is http://localhost:8080" in given.stderr


def test_public_url_and_ticket_texts_are_checked_by_check_config():
    text = (REPO / "config" / "township.toml").read_text(encoding="utf-8")
    hall = parse_config(text.replace('hotline = "12345"', 'hotline = "12345"\npublic_url = "https://zwfw.example.gov.cn/"\n'
                                     'waiting_area = "请在二楼B区候号"\nno_show_rule = "叫号{calls}次未到即过号"'), "t.toml")
    assert hall.public_url == "https://zwfw.example.gov.cn" and hall.waiting_area == "请在二楼B区候号"
    assert hall.no_show_text() == "叫号3次未到即过号"
    with pytest.raises(ConfigError) as err:
        parse_config(text.replace('hotline = "12345"', 'hotline = "12345"\npublic_url = "zwfw.example.gov.cn"\n'
                                  'no_show_rule = "叫号{n}次"'), "t.toml")
    said = str(err.value)
    assert "hall.public_url: 'zwfw.example.gov.cn' is not an http:// or https:// address" in said
    assert "hall.no_show_rule: the only placeholder is {calls}" in said


def test_services_answer_carries_the_ticket_texts(demo):
    hall = json.loads(get(demo[0] + "/api/v1/services")[1])["hall"]
    assert hall["waiting_area"] and hall["no_show_rule"].startswith("叫号 3 次") and hall["clock_rate"] == 1.0
