"""Find a font that draws Chinese (with its real bold face), and say which characters it cannot draw.

The kiosk and the hall display render Chinese with pygame; SDL's default font has no CJK glyphs
and draws boxes (豆腐块) without any error, so screens check their text against the font's cmap.

Noto Sans CJK (Debian fonts-noto-cjk) comes first: it has a real Bold weight, where pygame's
synthetic bold smears dense glyphs such as 删 into blobs. Its .ttc files hold the Japanese face
first and pygame can open only the first face of a collection, so hallq writes the Simplified
Chinese faces (Chinese glyph forms) out once as plain font files under ~/.cache/hallq/fonts and
uses those (a raw copy of the face's tables: well under a second).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

INSTALL_HINT = ("install a Chinese font, e.g. `apt-get install fonts-noto-cjk` (it has a real bold weight) or "
                "fonts-wqy-microhei (or set HALLQ_FONT=/path/font.ttc)")

# Noto Sans CJK collections: (regular, bold) paths; the SC face is taken out of each.
_NOTO = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc"),
)
_KNOWN = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)


class FontMissing(RuntimeError):
    """No font with Chinese glyphs was found; the message says how to install one."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hallq" / "fonts"


def _sc_face(collection: str) -> Path | None:
    """The Simplified Chinese face of a Noto CJK collection as its own font file (made once)."""
    name = Path(collection).stem.replace("CJK", "CJKsc") + ".otf"  # NotoSansCJKsc-Bold.otf
    target = cache_dir() / name
    source = Path(collection)
    if target.is_file() and target.stat().st_mtime >= source.stat().st_mtime:
        return target
    from fontTools.ttLib import TTCollection, TTFont

    try:
        faces = TTCollection(collection, lazy=True).fonts
        index = next(i for i, f in enumerate(faces) if f["name"].getDebugName(1) == "Noto Sans CJK SC")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        TTFont(collection, fontNumber=index, lazy=True).save(tmp, reorderTables=False)
        os.replace(tmp, target)
    except (OSError, StopIteration, KeyError, ValueError):
        return None
    return target


def bold_face(regular: Path | str) -> Path | None:
    """The real bold face that goes with `regular`, if there is one (Noto: yes; WenQuanYi Micro
    Hei: no, and then nothing is drawn bold rather than smeared)."""
    regular = Path(regular)
    for reg, bold in _NOTO:
        if Path(bold).is_file() and regular.name == Path(reg).stem.replace("CJK", "CJKsc") + ".otf":
            return _sc_face(bold)
    for word in ("Regular", "regular"):
        if word in regular.name:
            candidate = regular.with_name(regular.name.replace(word, "Bold" if word == "Regular" else "bold"))
            if candidate.is_file():
                return candidate
    return None


def find_cjk_font() -> Path:
    """HALLQ_FONT if set, else Noto Sans CJK SC, else a known Debian path, else what fontconfig lists
    for Chinese."""
    env = os.environ.get("HALLQ_FONT")
    if env:
        if Path(env).is_file():
            return Path(env)
        raise FontMissing(f"HALLQ_FONT={env} does not exist; {INSTALL_HINT}")
    for regular, _ in _NOTO:
        if Path(regular).is_file() and (face := _sc_face(regular)) is not None:
            return face
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
    """One font (and its real bold face, when it has one) at any pixel size, loaded once per size
    (screens redraw every frame). Bold without a bold face is drawn regular: never synthetic."""

    def __init__(self, path: Path | str, bold_path: Path | str | None = None) -> None:
        import pygame

        pygame.font.init()
        self.path = str(path)
        self.bold_path = str(bold_path) if bold_path else None
        self._cache: dict = {}

    def get(self, size: int, bold: bool = False):
        import pygame

        size = max(8, int(size))
        path = self.bold_path if bold and self.bold_path else self.path
        if (path, size) not in self._cache:
            self._cache[(path, size)] = pygame.font.Font(path, size)
        return self._cache[(path, size)]

    def render(self, text: str, size: int, color, max_width: int | None = None, min_size: int | None = None):
        """`text` at `size`, shrunk step by step until it fits `max_width` pixels. With `min_size`, it
        shrinks no further and is cut short with "…" instead: a long matter name stays legible and
        keeps to its place (at the smallest size it still ran over the estimate beside it)."""
        floor = max(10, min_size or 10)
        font = self.get(size)
        while max_width and size > floor and font.size(text)[0] > max_width:
            size = max(floor, int(size * 0.9))
            font = self.get(size)
        if min_size and max_width and font.size(text)[0] > max_width:
            while text and font.size(text + "…")[0] > max_width:
                text = text[:-1]
            text += "…"
        return font.render(text, True, color)
