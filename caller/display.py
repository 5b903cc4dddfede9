"""`hallq display --config F [--server URL] [--portrait] [--windowed] [--mute]`: the hall's big screen.

Shows the latest calls (ticket -> window, the newest large and flashing for a few seconds), how
many wait per service and about how long (every service with someone waiting, a page at a time,
turning every PAGE_SECONDS; estimates as large as the counts, legible from the seats), the date and clock, and the hall's notice scrolling along the bottom. It
follows the event stream and reconnects by itself (a discreet "连接中断" while it cannot), and
speaks each call unless muted (caller/voice.py). Drawing is a pure function of the board state,
so tests render it headless and look at the picture.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from caller.board import BoardState, HallBoard, clock_text
from hallq.fonts import FontCache

log = logging.getLogger("hallq.display")

# Every fixed Chinese text drawn; tests check the chosen font has each glyph.
LABELS = ("叫号信息", "等候人数", "请到", "号窗口", "人", "约", "分钟", "–·暂无窗口即将叫号开始", "连接中断", "暂无叫号", "目前无人等候",
          "号码", "窗口", "年月日星期一二三四五六日", "第页")

BG = (10, 36, 72)
PANEL = (18, 56, 104)
TEXT = (240, 244, 250)
DIM = (150, 175, 205)
GOLD = (255, 210, 80)
RED = (190, 30, 40)
GREEN = (90, 220, 120)
FLASH_SECONDS = 6.0
PAGE_SECONDS = 8.0  # how long each page of the waiting list stays up
WAIT_ROW = 0.075  # waiting list row height, of the screen's short side: 81 px and 48 px text at 1080p
TICKER_SPEED = 0.12  # screen widths per second


@dataclass(frozen=True)
class Drawn:
    """A text the waiting list put on screen: what, at which font size, its pixel height."""

    text: str
    size: int
    height: int
    color: tuple[int, int, int]
    left: int = 0  # where on screen, x from .. to (pixels)
    right: int = 0


def render(surface, fonts: FontCache, state: BoardState, hall_name: str, notice: str, now: datetime,
           t: float, picture=None) -> list[Drawn]:
    """Draw the whole screen for `state` at wall time `now`; `t` (seconds) drives flashing, the ticker
    and the waiting list's pages. `picture` (a pygame Surface): the hall's picture of the moment, below
    the waiting counts. Returns the waiting list's texts as drawn (for tests and checks)."""
    import pygame

    w, h = surface.get_size()
    portrait = h > w
    unit = min(w, h)
    surface.fill(BG)

    # header: hall name, date and clock (a second row when upright), connection
    head_h = int(h * (0.1 if portrait else 0.11))
    pygame.draw.rect(surface, RED, (0, 0, w, head_h))
    pad = int(unit * 0.03)
    date, clock = clock_text(now)
    if portrait:
        title = fonts.render(hall_name, int(head_h * 0.36), TEXT, w - 2 * pad)
        surface.blit(title, (pad, int(head_h * 0.08)))
        row_y = int(head_h * 0.55)
        clock_s = fonts.render(clock, int(head_h * 0.34), GOLD)
        date_s = fonts.render(date, int(head_h * 0.24), TEXT)
        surface.blit(date_s, (pad, row_y + (clock_s.get_height() - date_s.get_height()) // 2))
        surface.blit(clock_s, (w - pad - clock_s.get_width(), row_y))
    else:
        clock_s = fonts.render(clock, int(head_h * 0.5), GOLD)
        date_s = fonts.render(date, int(head_h * 0.28), TEXT)
        x = w - pad - clock_s.get_width()
        surface.blit(clock_s, (x, (head_h - clock_s.get_height()) // 2))
        date_x = x - date_s.get_width() - pad
        surface.blit(date_s, (date_x, (head_h - date_s.get_height()) // 2))
        title = fonts.render(hall_name, int(head_h * 0.5), TEXT, date_x - 2 * pad)
        surface.blit(title, (pad, (head_h - title.get_height()) // 2))
    if not state.connected:
        off = fonts.render("连接中断", int(unit * 0.025), GOLD)
        surface.blit(off, (w - off.get_width() - int(unit * 0.01), head_h - off.get_height() - 2))

    foot_h = int(h * (0.05 if portrait else 0.08))
    body_top, body_bottom = head_h + int(unit * 0.02), h - foot_h - int(unit * 0.02)
    margin = int(unit * 0.025)
    if portrait:
        calls_rect = pygame.Rect(margin, body_top, w - 2 * margin, int((body_bottom - body_top) * 0.62))
        wait_rect = pygame.Rect(margin, calls_rect.bottom + margin, w - 2 * margin, body_bottom - calls_rect.bottom - margin)
    else:
        calls_rect = pygame.Rect(margin, body_top, int(w * 0.6) - margin, body_bottom - body_top)
        wait_rect = pygame.Rect(calls_rect.right + margin, body_top, w - calls_rect.right - 2 * margin, body_bottom - body_top)
    title_size = int(unit * 0.045)
    if picture is not None:  # the lower part of the waiting panel shows the picture, scaled to fit
        frame = pygame.Rect(wait_rect.x, wait_rect.y + int(wait_rect.height * 0.55), wait_rect.width,
                            wait_rect.height - int(wait_rect.height * 0.55))
        wait_rect = pygame.Rect(wait_rect.x, wait_rect.y, wait_rect.width, frame.y - wait_rect.y - margin)
        scale = min(frame.width / picture.get_width(), frame.height / picture.get_height())
        shown = pygame.transform.smoothscale(picture, (max(1, int(picture.get_width() * scale)),
                                                       max(1, int(picture.get_height() * scale))))
        surface.blit(shown, shown.get_rect(center=frame.center))
    _calls(surface, fonts, state, calls_rect, t, title_size)
    drawn = _waiting(surface, fonts, state, wait_rect, title_size, unit, t)

    # footer: the notice, scrolling right to left
    pygame.draw.rect(surface, PANEL, (0, h - foot_h, w, foot_h))
    if notice:
        text = fonts.render(notice, int(foot_h * 0.55), TEXT)
        span = text.get_width() + w // 3
        offset = int((t * TICKER_SPEED * w) % span)
        y = h - foot_h + (foot_h - text.get_height()) // 2
        surface.blit(text, (w - offset, y))
        if w - offset + span < w:
            surface.blit(text, (w - offset + span, y))
    return drawn


def _panel_title(surface, fonts: FontCache, rect, title: str, size: int) -> int:
    import pygame

    pygame.draw.rect(surface, PANEL, rect, border_radius=12)
    label = fonts.render(title, size, GOLD)
    surface.blit(label, (rect.x + 20, rect.y + 12))
    return rect.y + 12 + label.get_height() + 10


def _calls(surface, fonts: FontCache, state: BoardState, rect, t: float, title_size: int) -> None:
    import pygame

    top = _panel_title(surface, fonts, rect, "叫号信息", title_size)
    if not state.calls:
        empty = fonts.render("暂无叫号", int(rect.height * 0.08), DIM)
        surface.blit(empty, empty.get_rect(center=(rect.centerx, (top + rect.bottom) // 2)))
        return
    newest, older = state.calls[0], state.calls[1:]
    banner = pygame.Rect(rect.x + 16, top, rect.width - 32, int((rect.bottom - top) * 0.42))
    flashing = time.monotonic() - state.newest_at < FLASH_SECONDS and int(t * 2) % 2 == 0
    pygame.draw.rect(surface, GOLD if flashing else RED, banner, border_radius=10)
    fg = RED if flashing else GOLD
    code = fonts.render(newest.code, int(banner.height * 0.52), fg, int(banner.width * 0.45))
    surface.blit(code, (banner.x + int(banner.width * 0.04), banner.y + (banner.height - code.get_height()) // 2))
    go = fonts.render(f"请到{newest.window}号窗口", int(banner.height * 0.3), TEXT if not flashing else RED,
                      int(banner.width * 0.48))
    gx = banner.x + int(banner.width * 0.5)
    surface.blit(go, (gx, banner.y + int(banner.height * 0.18)))
    if newest.window_name:
        name = fonts.render(newest.window_name, int(banner.height * 0.17), TEXT if not flashing else RED,
                            int(banner.width * 0.48), min_size=int(banner.height * 0.12))
        surface.blit(name, (gx, banner.y + int(banner.height * 0.6)))

    # the calls before it, two columns: code  window
    area = pygame.Rect(rect.x + 16, banner.bottom + 14, rect.width - 32, rect.bottom - banner.bottom - 24)
    rows = 4
    row_h = area.height // rows
    col_w = area.width // 2
    size = int(row_h * 0.55)
    for i, call in enumerate(older[: rows * 2]):
        col, row = divmod(i, rows)
        x, y = area.x + col * col_w, area.y + row * row_h
        pygame.draw.line(surface, BG, (x, y + row_h - 2), (x + col_w - 16, y + row_h - 2), 2)
        c = fonts.render(call.code, size, GOLD)
        surface.blit(c, (x + 8, y + (row_h - c.get_height()) // 2))
        win = fonts.render(f"{call.window}号窗口", size, TEXT, col_w - c.get_width() - 40)
        surface.blit(win, (x + col_w - 24 - win.get_width(), y + (row_h - win.get_height()) // 2))


def _waiting(surface, fonts: FontCache, state: BoardState, rect, title_size: int, unit: int,
             t: float) -> list[Drawn]:
    """Every service with someone waiting, most waiting first, a page at a time."""
    top = _panel_title(surface, fonts, rect, "等候人数", title_size)
    if not state.waiting:
        empty = fonts.render("目前无人等候", int(min(rect.height, rect.width) * 0.07), DIM)
        surface.blit(empty, empty.get_rect(center=(rect.centerx, (top + rect.bottom) // 2)))
        return []
    row_h = max(28, int(unit * WAIT_ROW))
    rows = max(1, (rect.bottom - top - 10) // row_h)
    pages = -(-len(state.waiting) // rows)
    page = int(t // PAGE_SECONDS) % pages
    if pages > 1:
        mark = fonts.render(f"第{page + 1}/{pages}页", title_size, TEXT)
        surface.blit(mark, (rect.right - 20 - mark.get_width(), rect.y + 12))
    size = int(row_h * 0.6)
    drawn = []
    for i, item in enumerate(state.waiting[page * rows:(page + 1) * rows]):
        y = top + i * row_h
        count = fonts.render(f"{item.waiting}人", size, GOLD)
        right = rect.right - 20
        gap = int(size * 0.5)
        # The estimate ("8:30 开始 · 约 25–40 分钟" is long) leaves the name two characters at least;
        # the name takes what is left, cut short with "…" rather than drawn over the estimate.
        room = right - count.get_width() - gap - (rect.x + 20)
        minutes = fonts.render(item.wait, size, TEXT, room - gap - 2 * size)
        surface.blit(count, (right - count.get_width(), y + (row_h - count.get_height()) // 2))
        mx = right - count.get_width() - gap - minutes.get_width()
        surface.blit(minutes, (mx, y + (row_h - minutes.get_height()) // 2))
        name = fonts.render(item.name, size, TEXT, mx - rect.x - 20 - gap, min_size=int(size * 0.75))
        surface.blit(name, (rect.x + 20, y + (row_h - name.get_height()) // 2))
        drawn += [Drawn(item.name, size, name.get_height(), TEXT, rect.x + 20, rect.x + 20 + name.get_width()),
                  Drawn(item.wait, size, minutes.get_height(), TEXT, mx, mx + minutes.get_width()),
                  Drawn(f"{item.waiting}人", size, count.get_height(), GOLD, right - count.get_width(), right)]
    return drawn


def glyph_problems(font_path: Path, texts: list[str]) -> set[str]:
    """Characters of the labels and of the hall's own texts that the font cannot draw."""
    from hallq.fonts import missing_glyphs

    return missing_glyphs(font_path, "".join(LABELS) + "".join(texts) + "0123456789:年月日")


# --------------------------------------------------------------------------- command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="hall configuration (TOML)")
    parser.add_argument("--server", default="http://127.0.0.1:8080", help="hallq server URL")
    parser.add_argument("--token", help="API token (default: the config's first display token)")
    parser.add_argument("--portrait", action="store_true", help="a screen mounted upright")
    parser.add_argument("--windowed", action="store_true", help="a window instead of full screen")
    parser.add_argument("--size", help="window size WxH (default 1280x720, or 720x1280 with --portrait)")
    parser.add_argument("--mute", action="store_true", help="do not speak the calls")
    parser.add_argument("--voice-dir", help="folder of recorded clips (default: config/voice)")
    parser.add_argument("--screenshot", metavar="PNG", help="save a screenshot after --duration seconds and exit")
    parser.add_argument("--duration", type=float, default=0, help="stop after this many seconds (0: run until closed)")


def run(args: argparse.Namespace) -> int:
    from hallq.client import ApiClient
    from hallq.config import load_or_exit
    from hallq.fonts import FontMissing, find_cjk_font

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = load_or_exit(args.config)
    try:
        font = find_cjk_font()
    except FontMissing as exc:
        print(f"hallq display: {exc}", file=sys.stderr)
        return 2
    texts = [config.name, config.notice, *(w.name for w in config.windows.values()),
             *(s.name for s in config.services.values())]
    missing = glyph_problems(font, texts)
    if missing:
        print(f"hallq display: {font} has no glyph for {''.join(sorted(missing))}; those characters show as "
              f"boxes (set HALLQ_FONT to a fuller font)", file=sys.stderr)
    token = args.token or next((t.token for t in config.tokens if t.role in ("display", "caller")), None)
    voice = None
    if not args.mute:
        from caller.voice import Voice

        voice = Voice(clip_dir=args.voice_dir).start()
    board = HallBoard(ApiClient(args.server, token), {n: w.name for n, w in config.windows.items()},
                      announce=voice.announce if voice else None).follow()
    status = show(board, font, config.name, config.notice, ZoneInfo(config.rules.timezone), args)
    board.stop()
    if voice is not None:
        voice.stop()
    return status


def picture_now(board: HallBoard, state: BoardState, cache: dict, t: float):
    """The picture of the moment (each shown `media_seconds` in turn), loaded once; None without any."""
    if not state.media:
        return None
    import io

    import pygame

    path = state.media[int(t // max(1, state.media_seconds)) % len(state.media)]
    if path not in cache:
        data = board.picture(path)
        try:
            cache[path] = pygame.image.load(io.BytesIO(data)) if data else None
        except pygame.error:
            cache[path] = None
    return cache[path]


def show(board: HallBoard, font: Path, hall_name: str, notice: str, tz: ZoneInfo, args: argparse.Namespace) -> int:
    import pygame

    pygame.display.init()
    if args.size:
        size = tuple(int(v) for v in args.size.lower().split("x"))
    elif args.windowed or os.environ.get("SDL_VIDEODRIVER") == "dummy":
        size = (720, 1280) if args.portrait else (1280, 720)
    else:
        info = pygame.display.Info()
        size = (info.current_w, info.current_h)
        if args.portrait and size[0] > size[1]:
            size = (size[1], size[0])
    flags = 0 if args.windowed or args.size else pygame.FULLSCREEN
    surface = pygame.display.set_mode(size, flags)
    pygame.display.set_caption(hall_name)
    pygame.mouse.set_visible(bool(args.windowed))
    fonts = FontCache(font)
    pictures: dict[str, object] = {}  # path -> Surface (None: could not be loaded)
    started = time.monotonic()
    ticker = pygame.time.Clock()
    while True:
        for event in pygame.event.get():
            if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key in (pygame.K_ESCAPE, pygame.K_q)):
                pygame.quit()
                return 0
        t = time.monotonic() - started
        state = board.snapshot()  # name, notice and pictures as last read from the server (changed live)
        render(surface, fonts, state, state.hall_name or hall_name, notice if state.notice is None else state.notice,
               board.now().astimezone(tz), t, picture_now(board, state, pictures, t))
        pygame.display.flip()
        if args.duration and t >= args.duration:
            if args.screenshot:
                Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
                pygame.image.save(surface, args.screenshot)
            pygame.quit()
            return 0
        ticker.tick(30)
