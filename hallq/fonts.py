"""Find a font that draws Chinese, and say which characters a font cannot draw.

The kiosk and the hall display render Chinese with pygame; SDL's default font has no CJK glyphs
and draws boxes (豆腐块) without any error, so screens check their text against the font's cmap.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

INSTALL_HINT = "install a Chinese font, e.g. `apt-get install fonts-wqy-microhei` (or set HALLQ_FONT=/path/font.ttc)"

_KNOWN = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)


class FontMissing(RuntimeError):
    """No font with Chinese glyphs was found; the message says how to install one."""


def find_cjk_font() -> Path:
    """HALLQ_FONT if set, else a font fontconfig lists for Chinese, else a known Debian path."""
    env = os.environ.get("HALLQ_FONT")
    if env:
        if Path(env).is_file():
            return Path(env)
        raise FontMissing(f"HALLQ_FONT={env} does not exist; {INSTALL_HINT}")
    for path in _KNOWN:
        if Path(path).is_file():
            return Path(path)
    if shutil.which("fc-list"):
        out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10).stdout
        files = sorted(line.split(":")[0].strip() for line in out.splitlines() if line.strip())
        if files:
            return Path(files[0])
    raise FontMissing(f"no font with Chinese glyphs found; {INSTALL_HINT}")


@lru_cache(maxsize=8)
def _codepoints(font_path: str) -> frozenset[int]:
    from fontTools.ttLib import TTCollection, TTFont

    if font_path.lower().endswith(".ttc"):
        fonts = TTCollection(font_path, lazy=True).fonts[:1]
    else:
        fonts = [TTFont(font_path, lazy=True)]
    return frozenset(fonts[0].getBestCmap() or {})


def missing_glyphs(font_path: str | Path, text: str) -> set[str]:
    """Characters of `text` (whitespace aside) that the font has no glyph for."""
    cmap = _codepoints(str(font_path))
    return {ch for ch in text if not ch.isspace() and ord(ch) not in cmap}


class FontCache:
    """One font file at any pixel size, loaded once per size (screens redraw every frame)."""

    def __init__(self, path: Path | str) -> None:
        import pygame

        pygame.font.init()
        self.path = str(path)
        self._cache: dict = {}

    def get(self, size: int):
        import pygame

        size = max(8, int(size))
        if size not in self._cache:
            self._cache[size] = pygame.font.Font(self.path, size)
        return self._cache[size]

    def render(self, text: str, size: int, color, max_width: int | None = None):
        """`text` at `size`, shrunk step by step until it fits `max_width` pixels."""
        font = self.get(size)
        while max_width and size > 10 and font.size(text)[0] > max_width:
            size = int(size * 0.9)
            font = self.get(size)
        return font.render(text, True, color)
