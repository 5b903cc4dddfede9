"""The hall display: follows a real server, renders headless, every Chinese glyph in the font."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import pygame  # noqa: E402
from callerrig import CallerRig  # noqa: E402
from hallfactory import small_hall  # noqa: E402

from caller.board import HallBoard, clock_text  # noqa: E402
from caller.display import LABELS, glyph_problems, render  # noqa: E402
from drivers.sim import wait_for  # noqa: E402
from hallq.client import ApiClient  # noqa: E402
from hallq.config import load_config  # noqa: E402
from hallq.fonts import (  # noqa: E402
    FontCache,  # noqa: E402
    find_cjk_font,
    missing_glyphs,
)

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "display"
REPO = Path(__file__).resolve().parents[1]
NOTICE = "办事遇到难题，请到5号“办不成事”反映窗口；老年人、残疾人、孕妇请走绿色通道。"


@pytest.fixture
def rig(tmp_path):
    r = CallerRig(tmp_path / "hall.db")
    assert r.daemon.wait_online(5)
    yield r
    r.close()


def test_every_glyph_the_display_draws_is_in_the_font():
    font = find_cjk_font()
    assert missing_glyphs(font, "".join(LABELS)) == set()
    for name in ("demo-hall.toml", "township.toml"):
        config = load_config(REPO / "config" / name)
        texts = [config.name, config.notice, *(w.name for w in config.windows.values()),
                 *(s.name for s in config.services.values())]
        assert glyph_problems(font, texts) == set(), name
    assert missing_glyphs(font, "A023 请到3号窗口😀") == {"😀"}  # the check does find what is missing


def test_clock_text():
    assert clock_text(datetime(2026, 11, 23, 9, 41, 5)) == ("2026年11月23日 星期一", "09:41:05")


def test_board_follows_calls_and_screenshot_reads_well(rig):
    announced = []
    board = HallBoard(ApiClient(rig.base, "t-display"), announce=lambda c, w: announced.append((c, w)),
                      retry_seconds=0.2, refresh_seconds=0.05).follow()
    try:
        assert wait_for(lambda: board.snapshot().connected, 5)
        for n, staff in ((1, "1001"), (2, "1002"), (3, "1003")):
            rig.admin.window(n, "login", staff=staff)
        codes = [rig.issue(s) for s in ("S101", "S101", "S201", "S202", "S102", "S301", "S101")]
        at_1 = rig.admin.window(1, "call-next")["ticket"]["code"]  # whichever the allocation picks
        rig.admin.window(2, "call-next")
        assert rig.keypads[3].call_next().name == "ACCEPTED"  # a call from a keypad shows too
        assert wait_for(lambda: len(board.snapshot().calls) == 3, 5)
        state = board.snapshot()
        assert [c.window for c in state.calls] == [3, 2, 1]  # newest first
        assert state.calls[0].window_name == "企业开办窗口"
        assert [w for _, w in announced] == [1, 2, 3]
        assert wait_for(lambda: sum(w.waiting for w in board.snapshot().waiting) == 4, 5)
        rig.admin.window(1, "recall")
        assert wait_for(lambda: board.snapshot().calls[0].window == 1, 3)
        assert announced[-1] == (at_1, 1) and at_1 in codes

        font = find_cjk_font()
        fonts = FontCache(font)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        now = datetime(2026, 11, 23, 9, 41, 5, tzinfo=ZoneInfo("Asia/Shanghai"))
        for size, name in (((1920, 1080), "landscape"), ((1080, 1920), "portrait")):
            surface = pygame.Surface(size)
            render(surface, fonts, board.snapshot(), "测试县政务服务中心", NOTICE, now, 4.0)
            pygame.image.save(surface, str(ARTIFACTS / f"{name}.png"))
            assert surface.get_at((5, 5))[:3] == (190, 30, 40)  # the red header
        # Server gone: the board says so and keeps the calls; back: it reloads by itself.
        rig.stop_server()
        assert wait_for(lambda: not board.snapshot().connected, 5)
        surface = pygame.Surface((1280, 720))
        render(surface, fonts, board.snapshot(), "测试县政务服务中心", NOTICE, now, 1.0)
        pygame.image.save(surface, str(ARTIFACTS / "offline.png"))
        assert len(board.snapshot().calls) == 3
        rig.start_server()
        assert wait_for(lambda: board.snapshot().connected, 5)
        assert len(announced) == 4  # reconnecting does not announce old calls again
    finally:
        board.stop()


def test_empty_hall_renders(tmp_path):
    from caller.board import BoardState

    surface = pygame.Surface((1280, 720))
    render(surface, FontCache(find_cjk_font()), BoardState(connected=True), "青石镇便民服务中心", "", datetime.now(), 0)
    pygame.image.save(surface, str(tmp_path / "empty.png"))


def test_a_long_matter_name_is_cut_short_not_drawn_over_its_estimate():
    """An unseen hall's 50-character matter with the lunch estimate beside it: the name shrank to
    10 px and still ran under the estimate, which itself ran out of the panel to the left."""
    from caller.board import BoardState, Waiting

    name = "省级行政区划内跨部门跨层级联合审批的建设工程项目规划许可及施工许可证核发与竣工联合验收备案登记一件事集成办理"
    state = BoardState(waiting=[Waiting("S002", name, 12, "14:30 开始 · 约 86–120 分钟")], connected=True)
    fonts = FontCache(find_cjk_font())
    for w, h in ((1920, 1080), (1080, 1920), (1280, 720)):
        drawn = render(pygame.Surface((w, h)), fonts, state, "测试县政务服务中心", "", datetime(2026, 11, 23, 12, 10), 0)
        shown, estimate, count = drawn
        panel_left = 0 if h > w else int(w * 0.6)
        assert panel_left < shown.left < shown.right <= estimate.left < estimate.right <= count.left < count.right <= w
        assert shown.height >= 0.7 * shown.size, (w, h)  # legible, not shrunk to nothing


def test_board_keeps_the_halls_clock_not_this_pcs(tmp_path):
    from datetime import timedelta

    from liveserver import serve_app

    from server.app import create_app
    from server.clock import ScaledClock

    hall_start = datetime.now().astimezone() - timedelta(hours=5)  # the demo's hall runs on its own clock
    app = create_app(small_hall(all_day=True), tmp_path / "d.db", clock=ScaledClock(hall_start, 1), supervise=False)
    with serve_app(app) as base:
        board = HallBoard(ApiClient(base, "t-display"))
        assert board.load()
        assert abs((board.now() - app.config["ENGINE"].now()).total_seconds()) < 2


def test_every_waiting_matter_is_paged_through_with_estimates_legible_from_the_seats():
    """22 matters with people waiting (the issue's count): each appears on some page, and every
    estimate is drawn as large as the counts, at least 40 px at 1080p, in bright text (not grey)."""
    from caller.board import BoardState, Waiting
    from caller.display import DIM, PAGE_SECONDS

    waiting = [Waiting(f"S{i:03}", f"测试事项第{i}项", 30 - i, f"约 {i}–{2 * i + 5} 分钟") for i in range(22)]
    state = BoardState(waiting=waiting, connected=True)
    fonts = FontCache(find_cjk_font())
    now = datetime(2026, 11, 23, 9, 41, 5, tzinfo=ZoneInfo("Asia/Shanghai"))
    for size in ((1920, 1080), (1080, 1920)):
        surface = pygame.Surface(size)
        seen, estimates = [], []
        for page in range(6):
            drawn = render(surface, fonts, state, "测试县政务服务中心", NOTICE, now, page * PAGE_SECONDS + 0.5)
            seen += [d.text for d in drawn if d.text.startswith("测试事项")]
            estimates += [d for d in drawn if d.text.startswith("约")]
        assert set(seen) == {w.name for w in waiting}, size
        assert len(set(seen)) < len(seen)  # the pages came round again
        assert all(d.size >= 40 and d.height >= 40 and d.color != DIM for d in estimates), size
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pygame.image.save(surface, str(ARTIFACTS / "waiting-pages.png"))


def test_a_board_that_followed_another_database_takes_this_ones_events(tmp_path):
    """A board kept open while the hall's database was replaced (a restored backup: its event ids
    start lower) takes the new database's events after its reload, instead of skipping every one up
    to the old database's last id."""
    from liveserver import serve_app

    from server.app import create_app

    app = create_app(small_hall(all_day=True), tmp_path / "d.db", supervise=False)
    engine = app.config["ENGINE"]
    with serve_app(app) as base:
        board = HallBoard(ApiClient(base, "t-display"))
        board.skip_through = 10**6  # what it had seen of the database before
        assert board.load()
        engine.login(1, "1001")
        t = engine.issue("S101")
        engine.call_next(1)
        called = engine.store.events_after(0, 100)[-1]
        assert called["type"] == "ticket.called"
        board.on_event(called)
        assert [c.code for c in board.snapshot().calls][:1] == [t.code]
