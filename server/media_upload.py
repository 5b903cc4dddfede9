"""A display picture uploaded from the configuration editor: checked to be what the hall display
can show, then written into media/ beside the config file atomically (a display or the editor
never sees half a file).

Checked: the name (hallq/schema.py MEDIA_NAME: no path, .png/.jpg/.jpeg), the bytes (PNG or JPEG
magic, matching the name's extension, and a full decode by Pillow, already the tickets' and
plots' image library), and the pixel size (a picture for a hall screen, not a thumbnail or a
decompression bomb).
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from hallq.schema import MEDIA_NAME

from .errors import Conflict, Invalid, NotFound

MIN_SIDE = 16  # pixels: smaller is no picture for a hall screen
MAX_SIDE = 8192  # pixels: an 8K screen at most
MAX_PIXELS = 40_000_000  # and at most this many in all (Pillow refuses bombs past about 179 M anyway)
MAGIC = {"PNG": b"\x89PNG\r\n\x1a\n", "JPEG": b"\xff\xd8\xff"}
FORMAT_OF = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


@dataclass(frozen=True)
class Picture:
    name: str
    format: str
    width: int
    height: int
    bytes: int


def check_name(name: str) -> str:
    """A file name in media/: no folder, no hidden file, .png/.jpg/.jpeg (422 naming `name`)."""
    if not re.match(MEDIA_NAME, name) or len(name) > 100:
        raise Invalid("a picture's name is 1–100 letters, digits, '.', '-' or '_' ending .png, .jpg or .jpeg "
                      "(no folders)", field="name")
    return name


def check_picture(name: str, data: bytes) -> Picture:
    """The picture in `data`, or 422 naming `body`: a real PNG or JPEG (as its name says), decoded."""
    wanted = FORMAT_OF[Path(check_name(name)).suffix.lower()]
    if not data:
        raise Invalid("the body is empty: send the picture's bytes (Content-Type image/png or image/jpeg)",
                      field="body")
    if not data.startswith(MAGIC[wanted]):
        found = next((f for f, magic in MAGIC.items() if data.startswith(magic)), None)
        raise Invalid(f"the body is {'a ' + found if found else 'not a PNG or JPEG'} picture, "
                      f"but {name} says {wanted}", field="body")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise Invalid(f"the picture is {width}×{height}: at most {MAX_PIXELS // 1_000_000} M pixels",
                                  field="body")
                image.load()  # a full decode: a truncated or corrupt file fails here
                kind = image.format
    except Invalid:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Invalid(f"the body is not a readable {wanted} picture ({exc})", field="body") from None
    if kind != wanted:
        raise Invalid(f"the body is a {kind} picture, but {name} says {wanted}", field="body")
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise Invalid(f"the picture is {width}×{height} pixels: each side must be {MIN_SIDE}–{MAX_SIDE}",
                      field="body")
    return Picture(name, kind, width, height, len(data))


def save(folder: Path, name: str, data: bytes) -> Picture:
    """Check and write the picture into `folder` (made if missing) under `name`; 409 if one is there."""
    picture = check_picture(name, data)
    folder.mkdir(exist_ok=True)
    target = folder / name
    if target.exists():
        raise Conflict(f"media/{name} is already there: delete it first or choose another name", field="name")
    fd, tmp = tempfile.mkstemp(prefix=".upload-", suffix=".tmp", dir=folder)  # a hidden name: never offered
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.link(tmp, target)  # atomic, and fails if the name was taken meanwhile (unlike a rename)
    except FileExistsError:
        raise Conflict(f"media/{name} is already there: delete it first or choose another name",
                       field="name") from None
    finally:
        os.unlink(tmp)
    _sync(folder)
    return picture


def delete(folder: Path | None, name: str, in_use: tuple[str, ...]) -> None:
    """Remove a picture the running hall does not show (409 if it does, 404 if it is not there)."""
    check_name(name)
    if folder is None or not (folder / name).is_file():
        raise NotFound(f"no picture {name} in the media folder", field="name")
    if name in in_use:
        raise Conflict(f"{name} is on the hall display (hall.media): take it off and save first", field="name")
    (folder / name).unlink()
    _sync(folder)


def _sync(folder: Path) -> None:
    """The folder's entry reaches the disk too (a power cut keeps the picture or not, never half)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
