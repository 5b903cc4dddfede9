"""Load a hall configuration (TOML) into `hallq.model.HallConfig`, or say everything that is wrong.

Nothing in hallq starts on a bad config, so the loader checks the whole file and reports every
problem at once, each with file, line and key path (`config/x.toml:57: windows[3].services.S301:
unknown service`), instead of making an operator fix one error per restart.

Keys, types, defaults and ranges are declared once, in hallq/schema.py (pydantic); this module
turns pydantic's errors into those lines (the TOML key path and its line), and checks what spans
several keys, on the raw file so that one mistake hides no other:
- a window serves a service only with weight primary, secondary or backup, and every service must
  have at least one primary or secondary window (backup windows only help with long waits, so a
  service with backup windows alone would always wait);
- at most one complaint window (办不成事反映窗口); a hall with 10 or more windows (a county hall)
  must have exactly one, smaller halls (township centres) may have none;
- devices sit on a bus of the right kind (keypads and evaluators on qb68, strips on ls-a0), in
  their role's address range, one device per address and bus;
- secrets can come from the environment (`token_env`); a missing variable is a problem;
- codes, numbers and names are unique; references name something declared.
The admin API checks a hall sent as JSON with the same code (`check_hall`, no line numbers).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
import sys
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ValidationError

from hallq import schema
from hallq.model import (
    AlertLevels,
    Appointments,
    Bundle,
    Bus,
    CountyLink,
    DeviceRef,
    HallConfig,
    Hours,
    IdReader,
    Kiosk,
    Printer,
    PriorityClass,
    ProvinceLink,
    Rules,
    Service,
    Session,
    SignInSessions,
    Sms,
    SpecialDay,
    Staff,
    Token,
    Window,
)
from hallq.schema import DEFAULT_ALERTS, DEVICES, HallFile

__all__ = ["DEFAULT_ALERTS", "ConfigError", "Problem", "check_hall", "load_config", "load_or_exit", "parse_config"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config file; `line` is None when no line can be pointed at."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(Exception):
    """A config that must not be used; `problems` lists everything found, in file order."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def read_config_text(path: str | Path) -> str:
    """A config file's text; raises ConfigError naming the file when it cannot be read as UTF-8."""
    source = str(path)
    try:
        # utf-8-sig: editors on Windows office PCs still save UTF-8 with a BOM, which TOML rejects.
        return Path(path).read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ConfigError([Problem(source, None, "", "no such file")]) from None
    except OSError as exc:
        raise ConfigError([Problem(source, None, "", f"cannot read: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(source, None, "", f"not UTF-8 text (byte {exc.start})")]) from None


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> HallConfig:
    """Read and check a hall config file; raises ConfigError (also for an unreadable file)."""
    return parse_config(read_config_text(path), str(path), environ)


def load_or_exit(path: str | Path) -> HallConfig:
    """For commands: the config, or every problem (file:line: key: message) on stderr and exit 2,
    so nothing starts on a bad config."""
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"hallq: {path} is not a valid hall configuration; nothing was started:", file=sys.stderr)
        print(str(exc), file=sys.stderr)
        raise SystemExit(2) from None


def parse_config(text: str, source: str = "<string>", environ: Mapping[str, str] | None = None) -> HallConfig:
    """Check TOML text and build the HallConfig; `environ` (default os.environ) feeds `token_env`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(exc, text, source)]) from None
    return check_hall(data, source, _Locator(text), environ)


def _syntax_problem(exc: tomllib.TOMLDecodeError, text: str, source: str) -> Problem:
    """tomllib (3.11) has no position attributes; the line is only in its message."""
    message = str(exc)
    found = re.search(r"\s*\(at line (\d+), column \d+\)$", message)
    if found:
        line = int(found.group(1))
        message = message[: found.start()]
    else:
        line = text.count("\n") + 1
        message = re.sub(r"\s*\(at end of document\)$", "", message) + " (at end of file)"
    return Problem(source, line, "", f"TOML syntax error: {message}")


# --------------------------------------------------------------------------- line locator


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR = re.compile(r"[^,\]}\n#]*")  # numbers, booleans, dates: up to the next separator


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _parent(path: str) -> str:
    cut = max(path.rfind("."), path.rfind("["))
    return path[:cut] if cut > 0 else ""


class _Locator:
    """Key path -> line number. tomllib keeps no positions, so this re-reads the text, which
    tomllib has already accepted, with a scanner that knows just enough TOML: table headers
    (the Nth `[[windows]]` is `windows[N]`), keys, strings, arrays and inline tables."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.line = 1
        self.lines: dict[str, int] = {}
        self.arrays: dict[str, int] = {}  # array-of-tables path -> elements seen so far
        try:
            self._scan()
        except IndexError:  # only on text tomllib rejected; keep the lines found so far
            pass

    def line_of(self, path: str) -> int | None:
        """The line of `path`, or of its nearest written ancestor (a missing key -> its table)."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = _parent(path)
        return None

    def _mark(self, path: str, line: int) -> None:
        self.lines.setdefault(path, line)

    def _scan(self) -> None:
        table = ""
        while True:
            self._skip_blank()
            if self.pos >= len(self.text):
                return
            if self.text[self.pos] == "[":
                table = self._header()
            else:
                self._key_value(table)

    def _skip_blank(self, newlines: bool = True) -> None:
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char == "#":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            elif char == "\n" and newlines:
                self.line += 1
                self.pos += 1
            elif char in " \t\r":
                self.pos += 1
            else:
                return

    def _header(self) -> str:
        is_array = self.text.startswith("[[", self.pos)
        self.pos += 2 if is_array else 1
        parts = self._key_parts()
        self.pos += 2 if is_array else 1
        path = ""
        for i, part in enumerate(parts):
            path = _join(path, part)
            if is_array and i == len(parts) - 1:
                index = self.arrays.get(path, 0)
                self.arrays[path] = index + 1
                self._mark(path, self.line)
                path = f"{path}[{index}]"
            elif path in self.arrays:
                path = f"{path}[{self.arrays[path] - 1}]"
        self._mark(path, self.line)
        return path

    def _key_value(self, table: str) -> None:
        path = table
        for part in self._key_parts():
            path = _join(path, part)
            self._mark(path, self.line)
        self._skip_blank(newlines=False)
        self.pos += 1  # "="
        self._skip_blank(newlines=False)
        self._value(path)

    def _key_parts(self) -> list[str]:
        parts = []
        while True:
            self._skip_blank(newlines=False)
            char = self.text[self.pos]
            if char in "\"'":
                start = self.pos
                self._string()
                raw = self.text[start + 1 : self.pos - 1]
                parts.append(_unescape(raw) if char == '"' else raw)
            else:
                found = _BARE_KEY.match(self.text, self.pos)
                if not found:
                    return parts
                parts.append(found.group())
                self.pos = found.end()
            self._skip_blank(newlines=False)
            if self.text[self.pos] != ".":
                return parts
            self.pos += 1

    def _value(self, path: str) -> None:
        char = self.text[self.pos]
        if char == "[":
            self._array(path)
        elif char == "{":
            self._inline_table(path)
        elif char in "\"'":
            self._string()
        else:
            self.pos = _SCALAR.match(self.text, self.pos).end()

    def _array(self, path: str) -> None:
        self.pos += 1
        index = 0
        while True:
            self._skip_blank()
            char = self.text[self.pos]
            if char == "]":
                self.pos += 1
                return
            if char == ",":
                self.pos += 1
                index += 1
                continue
            self._mark(f"{path}[{index}]", self.line)
            self._value(f"{path}[{index}]")

    def _inline_table(self, path: str) -> None:
        self.pos += 1
        while True:
            self._skip_blank()
            char = self.text[self.pos]
            if char == "}":
                self.pos += 1
                return
            if char == ",":
                self.pos += 1
                continue
            self._key_value(path)

    def _string(self) -> None:
        text = self.text
        quote = text[self.pos]
        delimiter = quote * 3 if text.startswith(quote * 3, self.pos) else quote
        end = self.pos + len(delimiter)
        while not text.startswith(delimiter, end):
            end += 2 if quote == '"' and text[end] == "\\" else 1
        end += len(delimiter)
        while len(delimiter) == 3 and end < len(text) and text[end] == quote:
            end += 1  # a multi-line string may end with up to two more quotes
        self.line += text.count("\n", self.pos, end)
        self.pos = end


def _unescape(raw: str) -> str:
    try:
        return json.loads(f'"{raw}"')
    except ValueError:
        return raw


# --------------------------------------------------------------------------- checks

_COMPLAINT_WINDOW_REQUIRED_FROM = 10  # windows; a county hall needs its 办不成事反映窗口
_STRIP_TEXT_BYTES = 64  # LS-A0 SET_IDLE limit, in GBK bytes
_THREE_LEVELS = "must be [warning, yellow, red]: three numbers, 0 or more"


def check_hall(data: dict, source: str = "<string>", locator: _Locator | None = None,
               environ: Mapping[str, str] | None = None) -> HallConfig:
    """Check a hall (the TOML file's data, or the same shape as JSON) and build the HallConfig;
    raises ConfigError with every problem. `environ` (default os.environ) feeds `token_env`."""
    check = _Checks(data, source, locator, os.environ if environ is None else environ)
    checked = None
    try:
        checked = HallFile.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            check.add(*_translate(err), flag=True)
    check.run()
    if check.problems:
        order = _order if locator is not None else _key_order  # no file: in the document's key order
        raise ConfigError(sorted(dict.fromkeys(check.problems), key=order))
    assert checked is not None
    return _build(checked, check.secrets, source, check.county_secret, check.province)


def media_folder(source: str) -> Path | None:
    """Where a hall's display pictures are: media/ beside its config file (None: not from a file)."""
    path = Path(source)
    return path.parent / "media" if source.endswith(".toml") and path.is_file() else None


def _order(p: Problem) -> tuple:
    """File order; problems on one line in key order (a line with no number keeps the order found)."""
    return (p.line or 0, p.key if p.line else "")


_SECTIONS = {name: i for i, name in enumerate(HallFile.model_fields)}


def _key_order(p: Problem) -> tuple:
    """Sections in the file's order, then indexes as numbers (windows[2] before windows[10])."""
    parts = re.split(r"(\d+)", p.key)
    head = re.match(r"[a-z_]+", p.key)
    return (_SECTIONS.get(head.group(0) if head else "", -1),
            [int(x) if x.isdigit() else x for x in parts])


def _number(value: float) -> str:
    """A number as written: integers in full (99999999999, not 1e+11)."""
    return str(value) if isinstance(value, int) else f"{value:.15g}"


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out = f"{out}[{part}]" if isinstance(part, int) else _join(out, str(part))
    return out


def _bare(annotation: object) -> object:
    """The type under Annotated[...] and `X | None`."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0]
        else:
            return annotation


def _is_model(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _field_at(loc: tuple):
    """(FieldInfo or None, bare annotation, the model holding the last key) at a pydantic location."""
    annotation: object = HallFile
    info = None
    holder = None
    for part in loc:
        annotation = _bare(annotation)
        origin = typing.get_origin(annotation)
        if _is_model(annotation):
            holder = annotation
            info = annotation.model_fields.get(str(part))
            if info is None:
                return None, None, holder
            annotation = info.annotation
        elif origin in (list, tuple):
            info, annotation = None, typing.get_args(annotation)[0]
        elif origin is dict:
            info, annotation = None, typing.get_args(annotation)[1]
        else:
            return None, None, holder
    return info, _bare(annotation), holder


def _bounds(info) -> dict:
    found = {}
    for meta in getattr(info, "metadata", ()):
        for name in ("ge", "gt", "le"):
            if getattr(meta, name, None) is not None:
                found[name] = getattr(meta, name)
    return found


def _translate(err: dict) -> tuple[str, str]:
    """pydantic's error -> (TOML key path, the message an operator reads)."""
    kind, loc, value = err["type"], tuple(err["loc"]), err.get("input")
    path = _path(loc)
    pattern = re.sub(r"\[\d+\]", "[]", path)
    info, annotation, holder = _field_at(loc)
    if kind == "hallq":
        return path, err["msg"]
    if pattern.startswith("hours.weekdays[]"):
        return path, f"{value!r} is not an ISO weekday 1..7 (1 = Monday)"
    if pattern.startswith("hours.lunch_windows[]"):
        return path, "must be a window number"
    if re.fullmatch(r"rules\.alerts\.\w+(\[\])?", pattern) and kind != "extra_forbidden":
        return _path(loc[:3]), _THREE_LEVELS
    if kind == "missing":
        if _is_model(annotation):
            return path, f"required table [{path}] is missing"
        if typing.get_origin(annotation) is list and _is_model(_bare(typing.get_args(annotation)[0])):
            return path, f"at least one [[{path}]] is required"
        return path, "required key is missing"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), list(holder.model_fields) if holder else [], n=1)
        return path, f'unknown key (did you mean "{close[0]}"?)' if close else "unknown key"
    if kind == "too_short":
        if pattern == "hours.sessions":
            return path, 'at least one session, e.g. [["08:30", "12:00"]]'
        if pattern == "hours.weekdays":
            return path, "the hall must open on at least one day"
        return path, "must not be empty"
    if kind == "literal_error":
        allowed = typing.get_args(annotation)
        if all(isinstance(a, str) for a in allowed):
            what = "weight " if re.fullmatch(r"windows\[\]\.services\..+", pattern) else ""
            return path, f"{what}{value!r} is not one of {', '.join(allowed)}"
        return path, f"must be {' or '.join(str(a) for a in allowed)}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than"):
        bounds = _bounds(info) or {k: v for k, v in (err.get("ctx") or {}).items() if k in ("ge", "gt", "le")}
        if kind == "less_than_equal" and "le" in bounds and not any(k in bounds for k in ("ge", "gt")):
            bounds["ge"] = 0  # a value inside a table (appointments.capacities): its item's own bounds
        if loc[-1] == "address" and str(loc[-2]) in DEVICES:
            _, low, high = DEVICES[str(loc[-2])]
            return path, f"{value} (0x{value:02X}) is outside the {loc[-2]} range 0x{low:02X}..0x{high:02X}"
        if pattern == "services[].promised_days" and kind == "less_than_equal":
            return path, f"{_number(value)} is outside 1..{bounds['le']:g}"
        if "gt" in bounds and (schema.is_nan(value) or value <= bounds["gt"]):
            return path, f"must be more than {bounds['gt']:g}"
        low = bounds.get("ge", bounds.get("gt"))
        if "le" in bounds:
            return path, f"{_number(value)} is outside {low:g}..{bounds['le']:g}"
        return path, f"must be at least {low:g}"
    if kind == "string_pattern_mismatch" and pattern.startswith("hall.media[]"):
        return path, f"{value!r} is not a picture's file name (letters, digits, '-', '_', '.'; .png, .jpg or .jpeg)"
    if kind == "string_pattern_mismatch":
        means = (info.json_schema_extra or {}).get("means", "") if info else ""
        return path, f"{value!r} is not {means or 'written as expected'}"
    if kind == "list_type":
        if typing.get_origin(annotation) is list and _is_model(_bare(typing.get_args(annotation)[0])):
            return path, f"must be an array of tables (written [[{loc[-1]}]])"
        return path, "must be an array"
    names = {"int_type": "an integer", "float_type": "a number", "string_type": "a string",
             "bool_type": "true or false", "model_type": "a table", "dict_type": "a table"}
    if kind in names:
        return path, f"must be {names[kind]}"
    return path, err["msg"]


def _str(table: object, key: str) -> str | None:
    value = table.get(key) if isinstance(table, dict) else None
    return value if isinstance(value, str) else None


def _int(table: object, key: str) -> int | None:
    value = table.get(key) if isinstance(table, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _tables(data: dict, key: str) -> list[tuple[str, dict]]:
    values = data.get(key)
    if not isinstance(values, list):
        return []
    return [(f"{key}[{i}]", v) for i, v in enumerate(values) if isinstance(v, dict)]


class _Checks:
    """What spans several keys, checked on the raw data, skipping values pydantic already refused."""

    def __init__(self, data: dict, source: str, locator: _Locator | None, environ: Mapping[str, str]):
        self.data, self.source, self.locator, self.environ = data, source, locator, environ
        self.problems: list[Problem] = []
        self.flagged: set[str] = set()
        self.secrets: list[str] = []
        self.county_secret: str | None = None
        self.province: tuple[str, str] | None = None  # [province]: (token, mapping file or "")
        # Paths of what was declared, faulty or not, so one mistake is not reported again as a
        # missing reference elsewhere.
        self.codes: dict[str, str] = {}  # service and bundle codes (one namespace) -> "services[i].code"
        self.bus_paths: dict[str, str] = {}
        self.kiosk_paths: dict[str, str] = {}
        self.window_paths: dict[int, str] = {}
        self.served: set[str] = set()

    def add(self, key: str, message: str, flag: bool = False) -> None:
        line = self.locator.line_of(key) if self.locator else None
        self.problems.append(Problem(self.source, line, key, message))
        if flag:
            self.flagged.add(key)

    def bad(self, path: str) -> bool:
        """Whether pydantic refused `path` or something inside it."""
        return any(f == path or f.startswith((path + ".", path + "[")) for f in self.flagged)

    def first_at(self, path: str) -> str:
        line = self.locator.line_of(path) if self.locator else None
        return f"{path}, line {line}" if line else path

    def unique(self, seen: dict, value: object, where: str, what: str) -> bool:
        if value in seen:
            self.add(where, f"duplicate {what} {value} (first at {self.first_at(seen[value])})")
            return False
        seen[value] = where
        return True

    def run(self) -> None:
        if not isinstance(self.data, dict):
            return
        self.media()
        self.matters()
        self.buses()
        self.windows()
        self.hours()
        self.alerts()
        self.priorities()
        self.kiosks_and_ports()
        staff: dict = {}
        for where, s in _tables(self.data, "staff"):
            if _str(s, "number") is not None:
                self.unique(staff, s["number"], f"{where}.number", "staff number")
        self.tokens()
        self.sms_and_appointments()
        if isinstance(self.data.get("county"), dict):
            self.county_secret = self.secret("county", self.data["county"])
        if isinstance(self.data.get("province"), dict):
            self.province_link(self.data["province"])

    def province_link(self, table: dict) -> None:
        """[province]: the token (as [county]'s) and the field mapping file, which must load."""
        from province.mapping import load

        secret = self.secret("province", table)
        mapping = table.get("mapping", "")
        if isinstance(mapping, str) and mapping and not self.bad("province.mapping"):
            path = Path(mapping)
            if not path.is_absolute() and self.source.endswith(".toml"):
                path = Path(self.source).parent / path
            try:
                load(path)
                mapping = str(path)
            except (OSError, ValueError) as exc:  # tomllib's TOMLDecodeError is a ValueError
                self.add("province.mapping", f"the field mapping does not load: {exc}")
                return
        if secret is not None:
            self.province = (secret, mapping if isinstance(mapping, str) else "")

    def sms_and_appointments(self) -> None:
        """The SMS gateway's settings that its kind needs; per-matter booking capacities name matters."""
        sms = self.data.get("sms")
        if isinstance(sms, dict) and sms.get("enabled") is True:
            gateway = sms.get("gateway", Sms.gateway)
            if gateway == "http" and not str(sms.get("http_url", "")).startswith(("http://", "https://")):
                self.add("sms.http_url", 'the HTTP SMS platform\'s address (http:// or https://) is required for gateway "http"')
            if gateway == "cmpp" and not sms.get("cmpp_sp_id"):
                self.add("sms.cmpp_sp_id", 'the SP code (企业代码) is required for gateway "cmpp"')
        appointments = self.data.get("appointments")
        capacities = appointments.get("capacities") if isinstance(appointments, dict) else None
        if isinstance(capacities, dict):
            for code in capacities:
                if code not in self.codes and not self.bad(f"appointments.capacities.{code}"):
                    self.add(f"appointments.capacities.{code}", "unknown service or bundle")

    def media(self) -> None:
        """Pictures for the hall display must be in media/ beside the file (checked for a file only)."""
        hall = self.data.get("hall")
        names = hall.get("media") if isinstance(hall, dict) else None
        folder = media_folder(self.source)
        if not isinstance(names, list) or folder is None:
            return
        for i, name in enumerate(names):
            if isinstance(name, str) and not self.bad(f"hall.media[{i}]") and not (folder / name).is_file():
                self.add(f"hall.media[{i}]", f"no file {folder / name}")

    def matters(self) -> None:
        for key in ("services", "bundles"):
            for where, m in _tables(self.data, key):
                if _str(m, "code") is not None:
                    self.unique(self.codes, m["code"], f"{where}.code", "code")
        for where, s in _tables(self.data, "services"):
            kind, days = _str(s, "case_kind") or "即办", _int(s, "promised_days")
            if self.bad(f"{where}.promised_days") or self.bad(f"{where}.case_kind"):
                continue
            days = 0 if "promised_days" not in s else days
            if days is not None and kind == "承诺" and days < 1:
                self.add(f"{where}.promised_days", "a 承诺 case needs promised_days of at least 1")
            elif days is not None and kind == "即办" and days != 0:
                self.add(f"{where}.promised_days", "a 即办 case is done on the spot: promised_days must be 0")
        for where, b in _tables(self.data, "bundles"):
            steps = b.get("steps")
            if not isinstance(steps, list) or self.bad(f"{where}.steps"):
                continue
            if len(steps) < 2:
                self.add(f"{where}.steps", "a bundle needs at least 2 steps")
            for i, step in enumerate(steps):
                if not self.codes.get(step, "").startswith("services"):  # a faulty one was reported
                    self.add(f"{where}.steps[{i}]", f"unknown service {step}")
                elif step in steps[:i]:
                    self.add(f"{where}.steps[{i}]", f"{step} is already a step of this bundle")

    def buses(self) -> None:
        self.bus_kinds: dict[str, str | None] = {}
        for where, b in _tables(self.data, "buses"):
            name = _str(b, "name")
            if name is not None and self.unique(self.bus_paths, name, f"{where}.name", "bus name"):
                self.bus_kinds[name] = None if self.bad(f"{where}.kind") else _str(b, "kind")

    def windows(self) -> None:
        windows = _tables(self.data, "windows")
        complaint = None
        addresses: dict[tuple[str, int], str] = {}
        for where, w in windows:
            number, kind = _int(w, "number"), _str(w, "kind")
            if number is not None:
                self.unique(self.window_paths, number, f"{where}.number", "window number")
            if kind == "complaint":
                if complaint:
                    self.add(f"{where}.kind", f"a second complaint window (the first is {self.first_at(complaint)})")
                complaint = complaint or where
            idle = w.get("idle_text", f"{number}号窗口 {_str(w, 'department') or ''}".strip())
            if isinstance(idle, str) and not self.bad(f"{where}.idle_text"):
                self.strip_text(f"{where}.idle_text", idle, made="idle_text" not in w)
            self.weights(where, w, kind)
            for role in DEVICES:
                if isinstance(w.get(role), dict):
                    self.device(f"{where}.{role}", role, w[role], addresses)
        if complaint is None and len(windows) >= _COMPLAINT_WINDOW_REQUIRED_FROM:
            self.add("windows", f"a hall with {_COMPLAINT_WINDOW_REQUIRED_FROM} or more windows needs one complaint "
                                'window (kind = "complaint", 办不成事反映窗口)')
        if isinstance(self.data.get("windows"), list) and "windows" not in self.flagged:
            # otherwise the missing windows were reported, not each service
            for where, s in _tables(self.data, "services"):
                code = _str(s, "code")
                if code and self.codes.get(code) == f"{where}.code" and not self.bad(where) and code not in self.served:
                    self.add(f"{where}.code", f"{code} has no window serving it as primary or secondary")

    def strip_text(self, where: str, text: str, made: bool = False) -> None:
        """`made`: the text is the default made from the window's department, so the key named is
        not in the file: the message says so."""
        trouble = schema.gbk_trouble(text)
        size = len(text.encode("gbk")) if not trouble else 0
        if trouble:
            self.add(where, trouble)
        elif size > _STRIP_TEXT_BYTES and made:
            self.add(where, f"{size} bytes in GBK; an LED strip takes at most {_STRIP_TEXT_BYTES} (the default "
                            f"idle_text {text!r}, made from department: set a shorter idle_text)")
        elif size > _STRIP_TEXT_BYTES:
            self.add(where, f"{size} bytes in GBK; an LED strip takes at most {_STRIP_TEXT_BYTES}")

    def weights(self, where: str, w: dict, kind: str | None) -> None:
        table = w.get("services", {})
        if not isinstance(table, dict) or self.bad(f"{where}.services") and not table:
            return
        if not table and kind is not None and kind != "help":
            self.add(f"{where}.services", "a window needs at least one service (only help desks may have none)")
        for code, weight in table.items():
            if self.codes.get(code, "").startswith("bundles"):
                self.add(f"{where}.services.{code}", "is a bundle; list its step services instead")
            elif code not in self.codes:
                self.add(f"{where}.services.{code}", "unknown service")
            if weight != "backup":  # a wrong weight was reported; the service is not also uncovered
                self.served.add(code)

    def device(self, where: str, role: str, ref: dict, addresses: dict) -> None:
        """A window device: its bus must exist and be of the right kind, its address free."""
        bus, address = _str(ref, "bus"), _int(ref, "address")
        if bus is None or self.bad(f"{where}.bus"):
            return
        if bus not in self.bus_paths:
            self.add(f"{where}.bus", f'unknown bus "{bus}"')
            return
        need = DEVICES[role][0]
        kind = self.bus_kinds.get(bus)
        if kind is None:  # a bus with its own problems was reported already
            return
        if kind != need:
            self.add(f"{where}.bus", f'bus "{bus}" is {kind}; a {role} needs a {need} bus')
            return
        if address is not None and not self.bad(f"{where}.address"):
            taken = addresses.get((bus, address))
            if taken:
                self.add(f"{where}.address", f'0x{address:02X} on bus "{bus}" is already used by {self.first_at(taken)}')
            addresses.setdefault((bus, address), where)

    def sessions(self, sessions: object, path: str) -> list | None:
        """Each pair in order, none overlapping the one before; the parsed pairs, or None."""
        parsed: list | None = []
        if isinstance(sessions, list):
            for i, pair in enumerate(sessions):
                where = f"{path}[{i}]"
                times = [schema.parse_time(v) for v in pair] if isinstance(pair, list) and len(pair) == 2 else None
                if not times or None in times:
                    parsed = None
                    continue
                start, end = times
                if start >= end:
                    self.add(where, f"ends ({end:%H:%M}) before it starts ({start:%H:%M})")
                elif parsed and start < parsed[-1][1]:
                    self.add(where, f"starts before the previous session ends ({parsed[-1][1]:%H:%M})")
                if parsed is not None:
                    parsed.append((start, end))
        return parsed

    def hours(self) -> None:
        hours = self.data.get("hours")
        if not isinstance(hours, dict):
            return
        parsed = self.sessions(hours.get("sessions"), "hours.sessions")
        days: dict = {}
        for where, day in _tables(hours, "special_days"):
            where = f"hours.{where}"
            when = day.get("date")
            when = when.isoformat() if isinstance(when, date) else when  # TOML date or "YYYY-MM-DD"
            if isinstance(when, str) and not self.bad(f"{where}.date"):
                self.unique(days, when, f"{where}.date", "special day")
            if day.get("kind") == "closed" and day.get("sessions"):
                self.add(f"{where}.sessions", "a closed day has no sessions")
            elif day.get("sessions") is not None:
                self.sessions(day["sessions"], f"{where}.sessions")
        for key, what in (("weekdays", "weekday"), ("lunch_windows", "lunch window")):
            seen: dict = {}
            values = hours.get(key)
            for i, value in enumerate(values if isinstance(values, list) else []):
                where = f"hours.{key}[{i}]"
                if self.bad(where) or not isinstance(value, int) or isinstance(value, bool):
                    continue
                if key == "lunch_windows" and value not in self.window_paths:
                    self.add(where, f"no window {value}")
                else:
                    self.unique(seen, value, where, what)
        stop = _int(hours, "stop_issuing_minutes")
        if parsed and stop is not None and not self.bad("hours.stop_issuing_minutes") and not self.bad("hours"):
            start, end = parsed[-1]
            length = (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)
            if not 0 <= stop <= length - 1:
                self.add("hours.stop_issuing_minutes", f"{stop} is outside 0..{length - 1}")

    def alerts(self) -> None:
        rules = self.data.get("rules")
        alerts = rules.get("alerts") if isinstance(rules, dict) else None
        if not isinstance(alerts, dict):
            return
        for name, levels in alerts.items():
            where = f"rules.alerts.{name}"
            if name not in DEFAULT_ALERTS or self.bad(where) or not isinstance(levels, list):
                continue
            if any(schema.is_nan(v) or v < 0 for v in levels):
                self.add(where, _THREE_LEVELS)
                continue
            low, high = schema.ALERT_DAYS if name == "deadline_days" else schema.ALERT_MINUTES
            out = [i for i, v in enumerate(levels) if not low <= v <= high]
            for i in out:
                self.add(f"{where}[{i}]", f"{_number(levels[i])} is outside {low}..{high}")
            if not out and list(levels) != sorted(levels, reverse=name == "deadline_days"):
                direction = "non-increasing (days left)" if name == "deadline_days" else "non-decreasing"
                self.add(where, f"levels must be {direction}: warning, yellow, red")

    def priorities(self) -> None:
        codes: dict[str, str] = {}
        ranks: dict[int, str] = {}
        valid: dict[str, int] = {}
        for where, p in _tables(self.data, "priorities"):
            code, rank = _str(p, "code"), _int(p, "rank")
            ok = code is not None and self.unique(codes, code, f"{where}.code", "priority code")
            if rank is not None and not self.bad(f"{where}.rank"):
                ok &= self.unique(ranks, rank, f"{where}.rank", "rank")
            if ok and not self.bad(where):
                valid[code] = rank
        required = ("green", "appointment", "normal")
        missing = [code for code in required if code not in codes]
        if missing:
            self.add("priorities", f"missing priority class {', '.join(missing)} (needed: {', '.join(required)})")
        elif all(code in valid for code in required):
            ranks_in_order = [valid[code] for code in required]
            if ranks_in_order != sorted(ranks_in_order):
                self.add("priorities", "ranks must order green < appointment < normal (lower rank is served first)")

    def kiosks_and_ports(self) -> None:
        for where, k in _tables(self.data, "kiosks"):
            if _str(k, "id") is not None:
                self.unique(self.kiosk_paths, k["id"], f"{where}.id", "kiosk id")
        # Two drivers cannot own one serial port; loop:// ports are private to each opener.
        ports = [(f"{where}.port", _str(b, "port")) for where, b in _tables(self.data, "buses")]
        ports += [(f"{where}.printer.url", _str(k.get("printer"), "url")) for where, k in _tables(self.data, "kiosks")]
        ports += [(f"{where}.id_reader.url", _str(k.get("id_reader"), "url")) for where, k in _tables(self.data, "kiosks")]
        users: dict[str, str] = {}
        for where, port in ports:
            if port is None or port.startswith("loop://") or self.bad(where):
                continue
            if port in users:
                self.add(where, f"{port} is already used by {self.first_at(users[port])}")
            users.setdefault(port, where)

    def tokens(self) -> None:
        names: dict[str, str] = {}
        secrets: dict[str, str] = {}
        for where, t in _tables(self.data, "tokens"):
            if _str(t, "name") is not None:
                self.unique(names, t["name"], f"{where}.name", "token name")
            secret = self.secret(where, t)
            key = f"{where}.token" if t.get("token") is not None else f"{where}.token_env"
            if secret is not None:
                if secret in secrets:  # never echo the secret itself
                    self.add(key, f"same token as {self.first_at(secrets[secret])}")
                secrets.setdefault(secret, key)
            self.secrets.append(secret or "")
            role, window, kiosk = _str(t, "role"), t.get("window"), t.get("kiosk")
            if role == "window" and window is None:
                self.add(f"{where}.window", 'required for role "window"')
            elif role is not None and role != "window" and window is not None:
                self.add(f"{where}.window", 'only allowed for role "window"')
            elif _int(t, "window") is not None and window not in self.window_paths:
                self.add(f"{where}.window", f"no window {window}")
            if kiosk is not None and role is not None and role != "kiosk":
                self.add(f"{where}.kiosk", 'only allowed for role "kiosk"')
            elif isinstance(kiosk, str) and kiosk not in self.kiosk_paths:
                self.add(f"{where}.kiosk", f"no kiosk {kiosk!r}")

    def secret(self, where: str, t: dict) -> str | None:
        token, env = t.get("token"), t.get("token_env")
        if self.bad(f"{where}.token") or self.bad(f"{where}.token_env"):
            return None
        if (token is None) == (env is None):
            self.add(where, "needs exactly one of token or token_env")
            return None
        if token is not None:
            secret, key = token, f"{where}.token"
        else:
            secret, key = self.environ.get(env), f"{where}.token_env"
            if secret is None:
                self.add(key, f"environment variable {env} is not set")
                return None
        if not secret.strip():
            self.add(key, "the token is empty")
            return None
        if secret != secret.strip():  # never echo the secret itself
            self.add(key, "the token has spaces around it; a presented token is stripped, so it would never match")
            return None
        if schema._control_character(secret):
            self.add(key, "the token contains a control character; no HTTP header can carry it")
            return None
        return secret


# --------------------------------------------------------------------------- building the engine's model


def _copy(cls: type, section: BaseModel, **given: object):
    """A model dataclass from the schema section of the same keys (lists become tuples)."""
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in given:
            values[f.name] = given[f.name]
        elif f.name in type(section).model_fields:
            value = getattr(section, f.name)
            values[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


def _sessions(pairs: list) -> tuple[Session, ...]:
    return tuple(Session(a, b) for a, b in pairs)


def _device(ref: BaseModel | None) -> DeviceRef | None:
    return DeviceRef(ref.bus, ref.address) if ref is not None else None


def _build(f: HallFile, secrets: list[str], source: str, county_secret: str | None = None,
           province: tuple[str, str] | None = None) -> HallConfig:
    windows = {}
    for w in f.windows:
        idle = w.idle_text if w.idle_text is not None else f"{w.number}号窗口 {w.department}".strip()
        windows[w.number] = _copy(Window, w, services=dict(w.services), idle_text=idle, keypad=_device(w.keypad),
                                  evaluator=_device(w.evaluator), strip=_device(w.strip))
    alerts = {name: AlertLevels(*(float(v) for v in getattr(f.rules.alerts, name)))
              for name in type(f.rules.alerts).model_fields}
    hall = {k: tuple(v) if isinstance(v, list) else v for k, v in f.hall}  # [hall] keys are HallConfig's own
    return HallConfig(
        **hall,
        hours=_copy(Hours, f.hours, sessions=_sessions(f.hours.sessions), special_days=tuple(
            SpecialDay(date.fromisoformat(d.date), d.kind, _sessions(d.sessions) if d.sessions else None, d.note)
            for d in f.hours.special_days)),
        services={s.code: _copy(Service, s) for s in f.services},
        bundles={b.code: _copy(Bundle, b) for b in f.bundles},
        windows=windows,
        priorities={p.code: _copy(PriorityClass, p) for p in f.priorities},
        appointments=_copy(Appointments, f.appointments, capacities=dict(f.appointments.capacities)),
        sms=_copy(Sms, f.sms),
        rules=_copy(Rules, f.rules, alerts=alerts),
        buses={b.name: _copy(Bus, b) for b in f.buses},
        kiosks={k.id: _copy(Kiosk, k, printer=_copy(Printer, k.printer) if k.printer else None,
                            id_reader=_copy(IdReader, k.id_reader) if k.id_reader else None) for k in f.kiosks},
        staff={s.number: _copy(Staff, s) for s in f.staff},
        tokens=tuple(Token(t.name, t.role, secret, t.window, t.kiosk) for t, secret in zip(f.tokens, secrets, strict=True)),
        source=source,
        sessions=_copy(SignInSessions, f.sessions),
        county=CountyLink(f.county.url.rstrip("/"), county_secret, f.county.cases) if f.county and county_secret else None,
        province=_copy(ProvinceLink, f.province, url=f.province.url.rstrip("/"), token=province[0], mapping=province[1])
        if f.province and province else None,
    )
