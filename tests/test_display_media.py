"""The hall display's pictures (hall.media): files in media/ beside the config, checked offline by
check-config, served to the display, shown in turn below the waiting counts, changed live."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from datetime import datetime

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import pygame  # noqa: E402
import pytest  # noqa: E402
from liveserver import serve_app  # noqa: E402
from PIL import Image  # noqa: E402
from test_config import BASE, GOOD_WINDOW  # noqa: E402

from caller.board import HallBoard  # noqa: E402
from caller.display import picture_now, render  # noqa: E402
from hallq.client import ApiClient  # noqa: E402
from hallq.config import ConfigError, load_config  # noqa: E402
from hallq.fonts import FontCache, find_cjk_font  # noqa: E402
from server.app import create_app  # noqa: E402

TOKENS = '\n[[tokens]]\nname = "display"\nrole = "display"\ntoken = "t-display"\n'


def hall_file(tmp_path, media: str) -> str:
    path = tmp_path / "hall.toml"
    text = BASE.replace('name = "测试政务服务中心"\n', f'name = "测试政务服务中心"\nmedia = {media}\nmedia_seconds = 5\n', 1)
    path.write_text(text.replace("[hours]", "[hours]\nweekdays = [1, 2, 3, 4, 5, 6, 7]") + GOOD_WINDOW + TOKENS,
                    encoding="utf-8")
    return str(path)


def test_check_config_names_a_missing_picture(tmp_path):
    path = hall_file(tmp_path, '["welcome.png", "../secret.png"]')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    found = [str(p) for p in caught.value.problems]
    assert found == [
        f"{path}:4: hall.media[0]: no file {tmp_path / 'media' / 'welcome.png'}",
        f"{path}:4: hall.media[1]: '../secret.png' is not a picture's file name (letters, digits, '-', '_', '.'; "
        ".png, .jpg or .jpeg)",
    ]


def test_pictures_are_served_and_shown_in_turn(tmp_path):
    (tmp_path / "media").mkdir()
    Image.new("RGB", (40, 20), (0, 200, 0)).save(tmp_path / "media" / "welcome.png")
    (tmp_path / "media" / "other.png").write_bytes(b"not listed")
    app = create_app(load_config(hall_file(tmp_path, '["welcome.png"]')), tmp_path / "media.db", supervise=False)
    with serve_app(app) as base:
        with urllib.request.urlopen(f"{base}/api/v1/media/welcome.png", timeout=10) as answer:
            assert answer.headers["Content-Type"] == "image/png" and answer.read()[:4] == b"\x89PNG"
        for name in ("other.png", "..%2Fhall.toml"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"{base}/api/v1/media/{name}", timeout=10)
            assert refused.value.code == 404
        board = HallBoard(ApiClient(base, "t-display"))
        assert board.load()
        state = board.snapshot()
        assert state.media == ("/api/v1/media/welcome.png",) and state.media_seconds == 5
        pygame.display.init()
        try:
            surface = pygame.Surface((1280, 720))
            picture = picture_now(board, state, {}, t=12.0)
            assert picture is not None and picture.get_size() == (40, 20)
            render(surface, FontCache(find_cjk_font()), state, "测试政务服务中心", "", datetime.now(), 0, picture)
            greens = sum(1 for x in range(768, 1280, 8) for y in range(380, 640, 8) if surface.get_at((x, y))[:3] == (0, 200, 0))
            assert greens > 50  # the picture fills the lower part of the waiting panel
        finally:
            pygame.display.quit()
