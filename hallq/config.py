"""Load a hall configuration (TOML) into `hallq.model.HallConfig`, or say everything that is wrong.

Nothing in hallq starts on a bad config, so the loader checks the whole file and reports every
problem at once, each with file, line and key path (`config/x.toml:57: windows[3].services.S301:
unknown service`), instead of making an operator fix one error per restart.

Rules beyond plain types (see config/demo-hall.toml for the schema):
- a window serves a service only with weight primary, secondary or backup, and every service must
  have at least one primary or secondary window (backup windows only help with long waits, so a
  service with backup windows alone would always wait);
- at most one complaint window (办不成事反映窗口); a hall with 10 or more windows (a county hall)
  must have exactly one, smaller halls (township centres) may have none;
- devices sit on a bus of the right kind (keypads and evaluators on qb68, strips on ls-a0), in
  their role's address range, one device per address and bus;
- secrets can come from the environment (`token_env`); a missing variable is a problem;
- every number has a range (`_RULE_RANGES` and the checks next to each table), NaN never passes;
  every string is one line of printable text (no control characters); tokens have no spaces
  around them (a presented token is stripped, so such a token could never match).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
import string
import sys
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hallq.model import (
    BUS_KINDS,
    CASE_KINDS,
    DEFAULT_NO_SHOW_RULE,
    DEFAULT_WAITING_AREA,
    ROLES,
    WEIGHTS,
    WINDOW_KINDS,
    AlertLevels,
    Appointments,
    Bundle,
    Bus,
    DeviceRef,
    HallConfig,
    Hours,
    IdReader,
    Kiosk,
    Printer,
    PriorityClass,
    Rules,
    Service,
    Session,
    SignInSessions,
    Sms,
    Staff,
    Token,
    Window,
)


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


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> HallConfig:
    """Read and check a hall config file; raises ConfigError (also for an unreadable file)."""
    source = str(path)
    try:
        # utf-8-sig: editors on Windows office PCs still save UTF-8 with a BOM, which TOML rejects.
        text = Path(path).read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ConfigError([Problem(source, None, "", "no such file")]) from None
    except OSError as exc:
        raise ConfigError([Problem(source, None, "", f"cannot read: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(source, None, "", f"not UTF-8 text (byte {exc.start})")]) from None
    return parse_config(text, source, environ)


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
    check = _Checker(source, _Locator(text), os.environ if environ is None else environ)
    hall = check.hall_config(data)
    if check.problems or hall is None:
        raise ConfigError(sorted(check.problems, key=lambda p: p.line or 0))
    return hall


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

_REQUIRED = object()
_KIND_NAMES = {
    "str": "a string",
    "int": "an integer",
    "num": "a number",
    "bool": "true or false",
    "array": "an array",
    "table": "a table",
    "tables": "an array of tables",
}

# Window devices: the bus kind they need and their address range (datasheets, section 1).
_DEVICES = {
    "keypad": ("qb68", 0x01, 0x7E),
    "evaluator": ("qb68", 0x81, 0xFE),
    "strip": ("ls-a0", 0x01, 0xFE),
}
_COMPLAINT_WINDOW_REQUIRED_FROM = 10  # windows; a county hall needs its 办不成事反映窗口
_STRIP_TEXT_BYTES = 64  # LS-A0 SET_IDLE limit, in GBK bytes

DEFAULT_ALERTS: dict[str, tuple[float, float, float]] = {
    "wait_minutes": (15, 30, 45),
    "service_minutes": (20, 30, 45),
    "idle_with_waiting_minutes": (3, 5, 10),
    "paused_minutes": (15, 30, 60),
    "unstaffed_minutes": (1, 5, 15),
    "deadline_days": (3, 1, 0),  # days left before a 承诺件 deadline: fewer is worse
    "called_minutes": (3, 5, 10),
}

_RULE_RANGES = {
    "number_width": (2, 5),
    "recall_limit": (0, 10),
    "secondary_penalty_minutes": (0, 240),
    "backup_after_minutes": (0, 480),
    "starvation_minutes": (1, 1440),
    "elderly_age": (50, 100),
    "rating_prompt_seconds": (5, 600),
    "supplementary_rating_days": (1, 365),
    "callback_working_days": (1, 30),
    "fix_working_days": (1, 90),
    "help_queue_length": (1, 1000),
    "service_level_minutes": (1, 240),
}
_ALERT_RANGE = (0, 1440)  # minutes: a day
_DEADLINE_ALERT_RANGE = (0, 365)  # working days left on a 承诺件
_PROMISED_DAYS = (1, 365)  # working days a 承诺件 may take
_SERVICE_MINUTES_MAX = 480  # expected service time: at most a working day
_RANK_RANGE = (0, 99)
_CHECKIN_BEFORE_RANGE = (0, 480)
_CHECKIN_AFTER_RANGE = (0, 240)
_DAYS_AHEAD_RANGE = (1, 90)
_SLOT_CAPACITY_RANGE = (0, 1000)
_NEAR_AHEAD_RANGE = (1, 50)
_SMS_PLACEHOLDERS = {
    "near_text": ("code", "ahead", "service"),
    "call_text": ("code", "window", "window_name", "service"),
    "reminder_text": ("date", "time", "service", "appointment", "hall"),
}


def _unknown_placeholder(template: str, names: tuple[str, ...]) -> str | None:
    """What is wrong with an SMS template's {placeholders}, or None."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        return f"is not a valid template ({exc})"
    bad = next((f for f in fields if f not in names), None)
    return None if bad is None else f"unknown placeholder {{{bad}}}"


def _number(value: float) -> str:
    """A number as written: integers in full (99999999999, not 1e+11)."""
    return str(value) if isinstance(value, int) else f"{value:.15g}"


_FREE_TEXT = {"hall.notice"}  # may span lines (tabs, line breaks); every other string is one line


def _control_character(text: str, allowed: str = "") -> str | None:
    """The first control character (NUL, newline, ESC …) in `text` not in `allowed`, or None."""
    return next((c for c in text if unicodedata.category(c) == "Cc" and c not in allowed), None)


def _has_kind(value: object, kind: str) -> bool:
    """TOML booleans are Python ints; a bool never counts as a number here."""
    if isinstance(value, bool):
        return kind == "bool"
    if kind == "int":
        return isinstance(value, int)
    if kind == "num":
        return isinstance(value, int | float)
    if kind == "tables":
        return isinstance(value, list) and all(isinstance(item, dict) for item in value)
    return isinstance(value, {"str": str, "bool": bool, "array": list, "table": dict}[kind])


def _defaults(cls: type, skip: tuple[str, ...] = ()) -> dict[str, tuple[str, object]]:
    """A key spec from a model dataclass's defaults, so config and model cannot drift apart."""
    kinds = {bool: "bool", int: "int", float: "num", str: "str"}
    return {
        f.name: (kinds[type(f.default)], f.default) for f in dataclasses.fields(cls) if f.name not in skip
    }


def _parse_time(value: object) -> time | None:
    if isinstance(value, time):
        return value
    if isinstance(value, str) and re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", value):
        return time(int(value[:2]), int(value[3:]))
    return None


def _gbk_trouble(text: str) -> str | None:
    """Strips and ticket printers only know GBK; a rare character would be dropped or print as ?."""
    try:
        text.encode("gbk")
    except UnicodeEncodeError as exc:
        return f"character {text[exc.start]!r} is not in GBK (LED strips and printers cannot show it)"
    return None


class _Checker:
    """Walks the parsed TOML, builds model objects and collects a Problem for everything wrong."""

    def __init__(self, source: str, locator: _Locator, environ: Mapping[str, str]):
        self.source = source
        self.locator = locator
        self.environ = environ
        self.problems: list[Problem] = []
        # Paths of what was declared, faulty or not, so one mistake is not reported again as a
        # missing reference elsewhere.
        self.codes: dict[str, str] = {}  # service and bundle codes (one namespace) -> "services[i].code"
        self.bus_paths: dict[str, str] = {}  # bus name -> "buses[i].name"
        self.kiosk_paths: dict[str, str] = {}  # kiosk id -> "kiosks[i].id"
        self.window_paths: dict[int, str] = {}  # window number -> "windows[i].number"
        self.served: set[str] = set()  # services some window serves with a weight other than backup

    def add(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.source, self.locator.line_of(key), key, message))

    def first_at(self, path: str) -> str:
        line = self.locator.line_of(path)
        return f"{path}, line {line}" if line else path

    def table(self, value: object, path: str, spec: dict[str, tuple[str, object]]) -> dict | None:
        """Check one table against {key: (kind, default or _REQUIRED)}; a dict of the keys that
        are present and well typed (defaults filled in), or None if `value` is not a table."""
        if not isinstance(value, dict):
            self.add(path, "must be a table")
            return None
        for key in value:
            if key not in spec:
                close = difflib.get_close_matches(key, list(spec), n=1)
                self.add(
                    _join(path, key), f'unknown key (did you mean "{close[0]}"?)' if close else "unknown key"
                )
        out = {}
        for key, (kind, default) in spec.items():
            where = _join(path, key)
            if key not in value:
                if default is _REQUIRED:
                    missing = {
                        "table": f"required table [{where}] is missing",
                        "tables": f"at least one [[{where}]] is required",
                    }
                    self.add(where, missing.get(kind, "required key is missing"))
                else:
                    out[key] = default
            elif not _has_kind(value[key], kind):
                hint = f" (written [[{key}]])" if kind == "tables" else ""
                self.add(where, f"must be {_KIND_NAMES[kind]}{hint}")
            elif default is _REQUIRED and kind in ("str", "tables") and not (
                value[key].strip() if kind == "str" else value[key]
            ):
                self.add(where, "must not be empty")
            elif kind == "str" and (char := _control_character(value[key], "\t\r\n" if where in _FREE_TEXT else "")):
                self.add(where, f"contains the control character U+{ord(char):04X}; write one line of printable text")
            else:
                out[key] = float(value[key]) if kind == "num" else value[key]
        return out

    def items(self, values: list[dict], path: str, spec: dict[str, tuple[str, object]]):
        """(path, checked table) for each element of an array of tables that has all its keys."""
        for i, value in enumerate(values):
            where = f"{path}[{i}]"
            out = self.table(value, where, spec)
            if out is not None and out.keys() == spec.keys():
                yield where, out

    def in_range(self, where: str, value: float, low: float, high: float | None = None) -> bool:
        if not (low <= value and (high is None or value <= high)):  # written so that NaN fails
            self.add(
                where,
                f"{_number(value)} is outside {low:g}..{high:g}"
                if high is not None
                else f"must be at least {low:g}",
            )
            return False
        return True

    def unique(self, seen: dict, value: object, where: str, what: str) -> bool:
        if value in seen:
            self.add(where, f"duplicate {what} {value} (first at {self.first_at(seen[value])})")
            return False
        seen[value] = where
        return True

    def matches(self, where: str, value: str, pattern: str, description: str) -> bool:
        if not re.fullmatch(pattern, value):
            self.add(where, f"{value!r} is not {description}")
            return False
        return True

    def one_of(self, where: str, value: str, allowed: tuple[str, ...]) -> bool:
        if value not in allowed:
            self.add(where, f"{value!r} is not one of {', '.join(allowed)}")
            return False
        return True

    # ------------------------------------------------------------------ the whole file

    def hall_config(self, data: dict) -> HallConfig | None:
        top = self.table(
            data,
            "",
            {
                "hall": ("table", _REQUIRED),
                "hours": ("table", _REQUIRED),
                "rules": ("table", {}),
                "appointments": ("table", {}),
                "sms": ("table", {}),
                "sessions": ("table", {}),
                "priorities": ("tables", []),  # priorities() names the classes that are missing
                "services": ("tables", _REQUIRED),
                "bundles": ("tables", []),
                "buses": ("tables", []),
                "windows": ("tables", _REQUIRED),
                "kiosks": ("tables", []),
                "staff": ("tables", []),
                "tokens": ("tables", []),
            },
        )
        assert top is not None  # tomllib always returns a table
        hall_spec = {
            "code": ("str", _REQUIRED),
            "name": ("str", _REQUIRED),
            "hotline": ("str", "12345"),
            "notice": ("str", ""),
            "public_url": ("str", ""),
            "waiting_area": ("str", DEFAULT_WAITING_AREA),
            "no_show_rule": ("str", DEFAULT_NO_SHOW_RULE),
        }
        hall = self.table(top["hall"], "hall", hall_spec) if "hall" in top else None
        if hall is not None:
            self.ticket_texts(hall)
        services = self.services(top.get("services", []))
        bundles = self.bundles(top.get("bundles", []), services)
        buses = self.buses(top.get("buses", []))
        windows = self.windows(top.get("windows", []), services, buses)
        if "windows" in top:  # otherwise the missing windows were reported, not each service
            self.coverage(services)
        hours = self.hours(top["hours"]) if "hours" in top else None
        rules = self.rules(top.get("rules", {}))
        appointments = self.appointments(top.get("appointments", {}), services, bundles)
        sms = self.sms(top.get("sms", {}))
        sessions = self.sign_in_sessions(top.get("sessions", {}))
        priorities = self.priorities(top.get("priorities", []))
        kiosks = self.kiosks(top.get("kiosks", []))
        self.shared_ports(buses, kiosks)
        staff = self.staff(top.get("staff", []))
        tokens = self.tokens(top.get("tokens", []), set(kiosks or {}))
        if self.problems:  # every None above came with a problem
            return None
        return HallConfig(
            code=hall["code"],
            name=hall["name"],
            hotline=hall["hotline"],
            notice=hall["notice"],
            public_url=hall["public_url"].rstrip("/"),
            waiting_area=hall["waiting_area"],
            no_show_rule=hall["no_show_rule"],
            hours=hours,
            services=services,
            bundles=bundles,
            windows=windows,
            priorities=priorities,
            appointments=appointments,
            rules=rules,
            buses=buses,
            kiosks=kiosks,
            staff=staff,
            tokens=tokens,
            source=self.source,
            sessions=sessions,
            sms=sms,
        )

    # ------------------------------------------------------------------ matters

    def services(self, values: list[dict]) -> dict[str, Service]:
        spec = {
            "code": ("str", _REQUIRED),
            "name": ("str", _REQUIRED),
            "category": ("str", _REQUIRED),
            "department": ("str", _REQUIRED),
            "prefix": ("str", _REQUIRED),
            "case_kind": ("str", "即办"),
            "promised_days": ("int", 0),
            "minutes": ("num", 10.0),
            "materials": ("array", []),
        }
        services = {}
        for where, s in self.items(values, "services", spec):
            ok = self.code_and_prefix(where, s)
            ok &= self.one_of(f"{where}.case_kind", s["case_kind"], CASE_KINDS)
            if s["case_kind"] == "承诺" and s["promised_days"] < 1:
                ok = False
                self.add(f"{where}.promised_days", "a 承诺 case needs promised_days of at least 1")
            elif s["case_kind"] == "承诺":
                ok &= self.in_range(f"{where}.promised_days", s["promised_days"], *_PROMISED_DAYS)
            elif s["case_kind"] == "即办" and s["promised_days"] != 0:
                ok = False
                self.add(f"{where}.promised_days", "a 即办 case is done on the spot: promised_days must be 0")
            if not s["minutes"] > 0:  # NaN too
                ok = False
                self.add(f"{where}.minutes", "must be more than 0")
            else:
                ok &= self.in_range(f"{where}.minutes", s["minutes"], 0, _SERVICE_MINUTES_MAX)
            ok &= self.texts(f"{where}.materials", s["materials"])
            ok &= self.printable(f"{where}.name", s["name"])
            if ok:
                s["materials"] = tuple(s["materials"])
                services[s["code"]] = Service(**s)
        return services

    def code_and_prefix(self, where: str, matter: dict) -> bool:
        ok = self.matches(
            f"{where}.code", matter["code"], r"[A-Z][0-9A-Z]{1,7}", "a code like S301 (A-Z, 0-9)"
        )
        ok &= self.unique(self.codes, matter["code"], f"{where}.code", "code")
        ok &= self.matches(f"{where}.prefix", matter["prefix"], r"[A-Z]{1,2}", "one or two letters A-Z")
        return ok

    def texts(self, where: str, values: list) -> bool:
        ok = True
        for i, value in enumerate(values):
            if not isinstance(value, str) or not value.strip():
                self.add(f"{where}[{i}]", "must be a non-empty string")
                ok = False
            elif char := _control_character(value):
                self.add(f"{where}[{i}]", f"contains the control character U+{ord(char):04X}; write one line of printable text")
                ok = False
            else:
                ok &= self.printable(f"{where}[{i}]", value)
        return ok

    def ticket_texts(self, hall: dict) -> None:
        """The hall's public URL (the ticket's QR code) and the lines every ticket prints."""
        url = hall.get("public_url")
        if url and not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(/[!-~]*)?", url):
            self.add("hall.public_url", f"{url!r} is not an http:// or https:// address that citizens' phones can open "
                                        '(e.g. "https://zwfw.example.gov.cn")')
        for key in ("waiting_area", "no_show_rule"):
            if key in hall:
                self.printable(f"hall.{key}", hall[key])
        rule = hall.get("no_show_rule", "")
        if "{" in rule.replace("{calls}", "") or "}" in rule.replace("{calls}", ""):
            self.add("hall.no_show_rule", "the only placeholder is {calls} (calls before 过号: rules.recall_limit + 1)")

    def printable(self, where: str, text: str) -> bool:
        trouble = _gbk_trouble(text)
        if trouble:
            self.add(where, trouble)
        return trouble is None

    def bundles(self, values: list[dict], services: dict[str, Service]) -> dict[str, Bundle]:
        spec = {
            "code": ("str", _REQUIRED),
            "name": ("str", _REQUIRED),
            "category": ("str", _REQUIRED),
            "prefix": ("str", _REQUIRED),
            "steps": ("array", _REQUIRED),
        }
        bundles = {}
        for where, b in self.items(values, "bundles", spec):
            ok = self.code_and_prefix(where, b) & self.printable(f"{where}.name", b["name"])
            if len(b["steps"]) < 2:
                ok = False
                self.add(f"{where}.steps", "a bundle needs at least 2 steps")
            for i, step in enumerate(b["steps"]):
                ok &= step in services
                if not self.codes.get(step, "").startswith("services"):  # a faulty one was reported
                    self.add(f"{where}.steps[{i}]", f"unknown service {step}")
                elif step in b["steps"][:i]:
                    ok = False
                    self.add(f"{where}.steps[{i}]", f"{step} is already a step of this bundle")
            if ok:
                bundles[b["code"]] = Bundle(**{**b, "steps": tuple(b["steps"])})
        return bundles

    # ------------------------------------------------------------------ devices and windows

    def buses(self, values: list[dict]) -> dict[str, Bus]:
        spec = {
            "name": ("str", _REQUIRED),
            "kind": ("str", _REQUIRED),
            "port": ("str", _REQUIRED),
            "baudrate": ("int", 9600),
        }
        buses = {}
        for where, b in self.items(values, "buses", spec):
            ok = self.unique(self.bus_paths, b["name"], f"{where}.name", "bus name")
            ok &= self.one_of(f"{where}.kind", b["kind"], BUS_KINDS)
            ok &= self.in_range(f"{where}.baudrate", b["baudrate"], 300, 921600)
            if ok:
                buses[b["name"]] = Bus(**b)
        return buses

    def windows(
        self,
        values: list[dict],
        services: dict[str, Service],
        buses: dict[str, Bus],
    ) -> dict[int, Window]:
        spec = {
            "number": ("int", _REQUIRED),
            "name": ("str", _REQUIRED),
            "kind": ("str", _REQUIRED),
            "department": ("str", ""),
            "idle_text": ("str", None),
            "services": ("table", {}),
            "keypad": ("table", None),
            "evaluator": ("table", None),
            "strip": ("table", None),
        }
        addresses: dict[tuple[str, int], str] = {}
        complaint = None
        windows = {}
        for where, w in self.items(values, "windows", spec):
            ok = self.in_range(f"{where}.number", w["number"], 1, 0x7E)
            ok &= self.unique(self.window_paths, w["number"], f"{where}.number", "window number")
            ok &= self.one_of(f"{where}.kind", w["kind"], WINDOW_KINDS)
            if w["kind"] == "complaint":
                if complaint:
                    ok = False
                    self.add(
                        f"{where}.kind",
                        f"a second complaint window (the first is {self.first_at(complaint)})",
                    )
                complaint = complaint or where
            if w["idle_text"] is None:
                w["idle_text"] = f"{w['number']}号窗口 {w['department']}".strip()
            ok &= self.strip_text(f"{where}.idle_text", w["idle_text"])
            ok &= self.weights(f"{where}.services", w["services"], w["kind"], services)
            self.served.update(code for code, weight in w["services"].items() if weight != "backup")
            for role in _DEVICES:
                if w[role] is not None:
                    w[role] = self.device(f"{where}.{role}", role, w[role], buses, addresses)
                    ok &= w[role] is not None
            if ok:
                windows[w["number"]] = Window(**w)
        if complaint is None and len(values) >= _COMPLAINT_WINDOW_REQUIRED_FROM:
            self.add(
                "windows",
                f"a hall with {_COMPLAINT_WINDOW_REQUIRED_FROM} or more windows needs one complaint window "
                '(kind = "complaint", 办不成事反映窗口)',
            )
        return windows

    def strip_text(self, where: str, text: str) -> bool:
        if not self.printable(where, text):
            return False
        size = len(text.encode("gbk"))
        if size > _STRIP_TEXT_BYTES:
            self.add(where, f"{size} bytes in GBK; an LED strip takes at most {_STRIP_TEXT_BYTES}")
            return False
        return True

    def weights(self, where: str, table: dict, kind: str, services: dict[str, Service]) -> bool:
        if not table and kind != "help":
            self.add(where, "a window needs at least one service (only help desks may have none)")
            return False
        ok = True
        for code, weight in table.items():
            if self.codes.get(code, "").startswith("bundles"):
                ok = False
                self.add(f"{where}.{code}", "is a bundle; list its step services instead")
            elif code not in services and code not in self.codes:
                ok = False
                self.add(f"{where}.{code}", "unknown service")
            if not isinstance(weight, str) or weight not in WEIGHTS:
                ok = False
                self.add(f"{where}.{code}", f"weight {weight!r} is not one of {', '.join(WEIGHTS)}")
        return ok

    def device(
        self, where: str, role: str, value: dict, buses: dict[str, Bus], addresses: dict
    ) -> DeviceRef | None:
        """A window device: its bus must exist and be of the right kind, its address in range and free."""
        ref = self.table(value, where, {"bus": ("str", _REQUIRED), "address": ("int", _REQUIRED)})
        if ref is None or len(ref) < 2:
            return None
        bus_kind, low, high = _DEVICES[role]
        ok = True
        bus = buses.get(ref["bus"])
        if bus is None:
            ok = False
            if ref["bus"] not in self.bus_paths:  # a bus with its own problems was reported already
                self.add(f"{where}.bus", f'unknown bus "{ref["bus"]}"')
        elif bus.kind != bus_kind:
            ok = False
            self.add(f"{where}.bus", f'bus "{bus.name}" is {bus.kind}; a {role} needs a {bus_kind} bus')
        address = ref["address"]
        if not low <= address <= high:
            ok = False
            self.add(
                f"{where}.address",
                f"{address} (0x{address:02X}) is outside the {role} range 0x{low:02X}..0x{high:02X}",
            )
        elif ok:
            taken = addresses.get((bus.name, address))
            if taken:
                ok = False
                self.add(
                    f"{where}.address",
                    f'0x{address:02X} on bus "{bus.name}" is already used by {self.first_at(taken)}',
                )
            addresses[(bus.name, address)] = taken or where
        return DeviceRef(**ref) if ok else None

    def coverage(self, services: dict[str, Service]) -> None:
        """Backup windows help only with long waits, so each service needs a primary or secondary window."""
        for code in services:
            if code not in self.served:
                self.add(self.codes[code], f"{code} has no window serving it as primary or secondary")

    # ------------------------------------------------------------------ hours and rules

    def hours(self, value: dict) -> Hours | None:
        spec = {
            "sessions": ("array", _REQUIRED),
            "weekdays": ("array", [1, 2, 3, 4, 5]),
            "lunch_windows": ("array", []),
            "stop_issuing_minutes": ("int", 0),
        }
        h = self.table(value, "hours", spec)
        if h is None or h.keys() != spec.keys():
            return None
        sessions = self.sessions(h["sessions"])
        ok = sessions is not None
        if not h["weekdays"]:
            ok = False
            self.add("hours.weekdays", "the hall must open on at least one day")
        seen: dict = {}
        for i, day in enumerate(h["weekdays"]):
            where = f"hours.weekdays[{i}]"
            if not _has_kind(day, "int") or not 1 <= day <= 7:
                ok = False
                self.add(where, f"{day!r} is not an ISO weekday 1..7 (1 = Monday)")
            else:
                ok &= self.unique(seen, day, where, "weekday")
        seen = {}
        for i, number in enumerate(h["lunch_windows"]):
            where = f"hours.lunch_windows[{i}]"
            if not _has_kind(number, "int"):
                ok = False
                self.add(where, "must be a window number")
            elif number not in self.window_paths:
                ok = False
                self.add(where, f"no window {number}")
            else:
                ok &= self.unique(seen, number, where, "lunch window")
        if ok and sessions:
            last = sessions[-1]
            length = (last.end.hour * 60 + last.end.minute) - (last.start.hour * 60 + last.start.minute)
            ok &= self.in_range("hours.stop_issuing_minutes", h["stop_issuing_minutes"], 0, length - 1)
        if not ok:
            return None
        return Hours(sessions, tuple(h["weekdays"]), tuple(h["lunch_windows"]), h["stop_issuing_minutes"])

    def sessions(self, values: list) -> tuple[Session, ...] | None:
        if not values:
            self.add("hours.sessions", 'at least one session, e.g. [["08:30", "12:00"]]')
            return None
        sessions = []
        problems = len(self.problems)
        for i, value in enumerate(values):
            where = f"hours.sessions[{i}]"
            times = [_parse_time(v) for v in value] if isinstance(value, list) and len(value) == 2 else None
            if not times or None in times:
                self.add(where, 'must be a pair of times like ["08:30", "12:00"] (HH:MM)')
                continue
            start, end = times
            if start >= end:
                self.add(where, f"ends ({end:%H:%M}) before it starts ({start:%H:%M})")
            elif sessions and start < sessions[-1].end:
                self.add(where, f"starts before the previous session ends ({sessions[-1].end:%H:%M})")
            sessions.append(Session(start, end))
        return tuple(sessions) if len(self.problems) == problems else None

    def rules(self, value: dict) -> Rules | None:
        spec = _defaults(Rules, skip=("alerts",))
        spec["alerts"] = ("table", {})
        r = self.table(value, "rules", spec)
        if r is None:
            return None
        ok = r.keys() == spec.keys()
        for key, (low, high) in _RULE_RANGES.items():
            if key in r:
                ok &= self.in_range(f"rules.{key}", r[key], low, high)
        if "timezone" in r:
            try:
                ZoneInfo(r["timezone"])
            except (ZoneInfoNotFoundError, ValueError):
                ok = False
                self.add("rules.timezone", f"unknown time zone {r['timezone']!r} (e.g. Asia/Shanghai)")
        alerts = self.alerts(r.get("alerts", {}))
        if not ok or alerts is None:
            return None
        return Rules(**{**r, "alerts": alerts})

    def alerts(self, value: dict) -> dict[str, AlertLevels] | None:
        values = self.table(
            value, "rules.alerts", {name: ("array", list(levels)) for name, levels in DEFAULT_ALERTS.items()}
        )
        if values is None or len(values) < len(DEFAULT_ALERTS):
            return None
        alerts = {}
        for name, levels in values.items():
            where = f"rules.alerts.{name}"
            if len(levels) != 3 or not all(_has_kind(v, "num") and v >= 0 for v in levels):
                self.add(where, "must be [warning, yellow, red]: three numbers, 0 or more")
                continue
            low, high = _DEADLINE_ALERT_RANGE if name == "deadline_days" else _ALERT_RANGE
            if not all([self.in_range(f"{where}[{i}]", v, low, high) for i, v in enumerate(levels)]):
                continue
            ordered = sorted(levels, reverse=name == "deadline_days")
            if list(levels) != ordered:
                direction = "non-increasing (days left)" if name == "deadline_days" else "non-decreasing"
                self.add(where, f"levels must be {direction}: warning, yellow, red")
                continue
            alerts[name] = AlertLevels(*(float(v) for v in levels))
        return alerts if len(alerts) == len(DEFAULT_ALERTS) else None

    def appointments(self, value: dict, services: dict | None, bundles: dict | None) -> Appointments | None:
        spec = {**_defaults(Appointments, skip=("capacities",)), "capacities": ("table", {})}
        a = self.table(value, "appointments", spec)
        if a is None or a.keys() != spec.keys():
            return None
        ok = self.in_range("appointments.slot_minutes", a["slot_minutes"], 5, 480)
        ok &= self.in_range("appointments.checkin_before_minutes", a["checkin_before_minutes"], *_CHECKIN_BEFORE_RANGE)
        ok &= self.in_range("appointments.checkin_after_minutes", a["checkin_after_minutes"], *_CHECKIN_AFTER_RANGE)
        ok &= self.in_range("appointments.days_ahead", a["days_ahead"], *_DAYS_AHEAD_RANGE)
        ok &= self.in_range("appointments.slot_capacity", a["slot_capacity"], *_SLOT_CAPACITY_RANGE)
        for code, number in a["capacities"].items():
            where = f"appointments.capacities.{code}"
            if services is not None and code not in services and code not in (bundles or {}):
                ok = False
                self.add(where, "unknown service or bundle")
            elif not _has_kind(number, "int"):
                ok = False
                self.add(where, "must be a whole number (appointments per slot; 0: not bookable online)")
            else:
                ok &= self.in_range(where, number, *_SLOT_CAPACITY_RANGE)
        return Appointments(**a) if ok else None

    def sms(self, value: dict) -> Sms | None:
        """[sms]: texts with only the placeholders each one can fill, the gateway's settings."""
        spec = _defaults(Sms)
        s = self.table(value, "sms", spec)
        if s is None or s.keys() != spec.keys():
            return None
        ok = self.in_range("sms.near_ahead", s["near_ahead"], *_NEAR_AHEAD_RANGE)
        ok &= self.in_range("sms.reminder_hour", s["reminder_hour"], 0, 23)
        ok &= self.in_range("sms.cmpp_port", s["cmpp_port"], 1, 65535)
        ok &= self.one_of("sms.gateway", s["gateway"], ("cmpp", "http"))
        for key, names in _SMS_PLACEHOLDERS.items():
            unknown = _unknown_placeholder(s[key], names)
            if unknown is not None:
                ok = False
                self.add(f"sms.{key}", f"{unknown}; it may use {', '.join('{' + n + '}' for n in names)}")
        for key, size in (("cmpp_sp_id", 6), ("cmpp_service_id", 10), ("cmpp_src_id", 21)):
            if not re.fullmatch(rf"[0-9A-Za-z]{{0,{size}}}", s[key]):
                ok = False
                self.add(f"sms.{key}", f"must be at most {size} ASCII letters or digits (a CMPP field)")
        try:
            json.loads(s["http_body"])
        except ValueError:
            ok = False
            self.add("sms.http_body", 'must be a JSON object, e.g. {"mobile": "{phone}", "content": "{text}"}')
        if s["enabled"] and s["gateway"] == "http" and not s["http_url"].startswith(("http://", "https://")):
            ok = False
            self.add("sms.http_url", "the HTTP SMS platform's address (http:// or https://) is required for gateway \"http\"")
        if s["enabled"] and s["gateway"] == "cmpp" and not s["cmpp_sp_id"]:
            ok = False
            self.add("sms.cmpp_sp_id", "the SP code (企业代码) is required for gateway \"cmpp\"")
        return Sms(**s) if ok else None

    def sign_in_sessions(self, value: dict) -> SignInSessions | None:
        """Idle minutes per role, whole minutes from 1 up to the 12-hour lifetime of every sign-in."""
        spec = _defaults(SignInSessions)
        s = self.table(value, "sessions", spec)
        if s is None:
            return None
        ok = s.keys() == spec.keys()
        for key in s:
            ok &= self.in_range(f"sessions.{key}", s[key], 1, 720)
        return SignInSessions(**s) if ok else None

    def priorities(self, values: list[dict]) -> dict[str, PriorityClass]:
        spec = {"code": ("str", _REQUIRED), "name": ("str", _REQUIRED), "rank": ("int", _REQUIRED)}
        codes: dict[str, str] = {}
        ranks: dict[int, str] = {}
        priorities = {}
        for where, p in self.items(values, "priorities", spec):
            ok = self.unique(codes, p["code"], f"{where}.code", "priority code")
            ok &= self.in_range(f"{where}.rank", p["rank"], *_RANK_RANGE) and self.unique(
                ranks, p["rank"], f"{where}.rank", "rank"
            )
            if ok:
                priorities[p["code"]] = PriorityClass(**p)
        required = ("green", "appointment", "normal")
        missing = [code for code in required if code not in codes]
        if missing:
            self.add(
                "priorities", f"missing priority class {', '.join(missing)} (needed: {', '.join(required)})"
            )
        elif all(code in priorities for code in required):
            ranks_in_order = [priorities[code].rank for code in required]
            if ranks_in_order != sorted(ranks_in_order):
                self.add(
                    "priorities", "ranks must order green < appointment < normal (lower rank is served first)"
                )
        return priorities

    # ------------------------------------------------------------------ kiosks, staff, tokens

    def kiosks(self, values: list[dict]) -> dict[str, Kiosk]:
        spec = {"id": ("str", _REQUIRED), "name": ("str", _REQUIRED), "printer": ("table", None),
                "id_reader": ("table", None)}
        kiosks = {}
        for where, k in self.items(values, "kiosks", spec):
            ok = self.unique(self.kiosk_paths, k["id"], f"{where}.id", "kiosk id")
            if k["printer"] is not None:
                k["printer"] = self.printer(f"{where}.printer", k["printer"])
                ok &= k["printer"] is not None
            if k["id_reader"] is not None:
                k["id_reader"] = self.id_reader(f"{where}.id_reader", k["id_reader"])
                ok &= k["id_reader"] is not None
            if ok:
                kiosks[k["id"]] = Kiosk(**k)
        return kiosks

    def printer(self, where: str, value: dict) -> Printer | None:
        spec = {"url": ("str", _REQUIRED), **_defaults(Printer, skip=("url",))}
        p = self.table(value, where, spec)
        if p is None or p.keys() != spec.keys():
            return None
        ok = self.in_range(f"{where}.baudrate", p["baudrate"], 300, 921600)
        if p["paper_mm"] not in (58, 80):
            ok = False
            self.add(f"{where}.paper_mm", "must be 58 or 80")
        return Printer(**p) if ok else None

    def id_reader(self, where: str, value: dict) -> IdReader | None:
        spec = {"url": ("str", _REQUIRED), **_defaults(IdReader, skip=("url",))}
        r = self.table(value, where, spec)
        if r is None or r.keys() != spec.keys():
            return None
        ok = self.in_range(f"{where}.baudrate", r["baudrate"], 9600, 115200)
        if ok and r["baudrate"] not in (9600, 115200):
            ok = False
            self.add(f"{where}.baudrate", "must be 9600 or 115200 (the SAM module's line settings)")
        return IdReader(**r) if ok else None

    def shared_ports(self, buses: dict[str, Bus], kiosks: dict[str, Kiosk]) -> None:
        """Two drivers cannot own one serial port; loop:// ports are private to each opener."""
        users: dict[str, str] = {}
        ports = [(f"{_parent(self.bus_paths[b.name])}.port", b.port) for b in buses.values()]
        ports += [
            (f"{_parent(self.kiosk_paths[k.id])}.printer.url", k.printer.url)
            for k in kiosks.values()
            if k.printer
        ]
        ports += [
            (f"{_parent(self.kiosk_paths[k.id])}.id_reader.url", k.id_reader.url)
            for k in kiosks.values()
            if k.id_reader
        ]
        for where, port in ports:
            if port.startswith("loop://"):
                continue
            if port in users:
                self.add(where, f"{port} is already used by {self.first_at(users[port])}")
            users.setdefault(port, where)

    def staff(self, values: list[dict]) -> dict[str, Staff]:
        spec = {"number": ("str", _REQUIRED), "name": ("str", _REQUIRED), "department": ("str", "")}
        numbers: dict[str, str] = {}
        staff = {}
        for where, s in self.items(values, "staff", spec):
            ok = self.matches(
                f"{where}.number", s["number"], r"[0-9]{1,8}", "1 to 8 ASCII digits (typed on the keypad)"
            )
            ok &= self.unique(numbers, s["number"], f"{where}.number", "staff number")
            if ok:
                staff[s["number"]] = Staff(**s)
        return staff

    def tokens(self, values: list[dict], kiosk_ids: set[str]) -> tuple[Token, ...]:
        spec = {
            "name": ("str", _REQUIRED),
            "role": ("str", _REQUIRED),
            "token": ("str", None),
            "token_env": ("str", None),
            "window": ("int", None),
            "kiosk": ("str", None),
        }
        names: dict[str, str] = {}
        secrets: dict[str, str] = {}
        tokens = []
        for where, t in self.items(values, "tokens", spec):
            ok = self.unique(names, t["name"], f"{where}.name", "token name")
            ok &= self.one_of(f"{where}.role", t["role"], ROLES)
            secret = self.secret(where, t)
            key = f"{where}.token" if t["token"] is not None else f"{where}.token_env"
            if secret is None:
                ok = False
            elif secret in secrets:  # never echo the secret itself
                ok = False
                self.add(key, f"same token as {self.first_at(secrets[secret])}")
            else:
                secrets[secret] = key
            if t["role"] == "window" and t["window"] is None:
                ok = False
                self.add(f"{where}.window", 'required for role "window"')
            elif t["role"] != "window" and t["window"] is not None:
                ok = False
                self.add(f"{where}.window", 'only allowed for role "window"')
            elif t["window"] is not None and t["window"] not in self.window_paths:
                ok = False
                self.add(f"{where}.window", f"no window {t['window']}")
            if t["kiosk"] is not None and t["role"] != "kiosk":
                ok = False
                self.add(f"{where}.kiosk", 'only allowed for role "kiosk"')
            elif t["kiosk"] is not None and t["kiosk"] not in kiosk_ids:
                ok = False
                self.add(f"{where}.kiosk", f"no kiosk {t['kiosk']!r}")
            if ok:
                tokens.append(Token(t["name"], t["role"], secret, t["window"], t["kiosk"]))
        return tuple(tokens)

    def secret(self, where: str, t: dict) -> str | None:
        if (t["token"] is None) == (t["token_env"] is None):
            self.add(where, "needs exactly one of token or token_env")
            return None
        if t["token"] is not None:
            secret, key = t["token"], f"{where}.token"
        else:
            secret, key = self.environ.get(t["token_env"]), f"{where}.token_env"
            if secret is None:
                self.add(key, f"environment variable {t['token_env']} is not set")
                return None
        if not secret.strip():
            self.add(key, "the token is empty")
            return None
        if secret != secret.strip():  # never echo the secret itself
            self.add(key, "the token has spaces around it; a presented token is stripped, so it would never match")
            return None
        if _control_character(secret):
            self.add(key, "the token contains a control character; no HTTP header can carry it")
            return None
        return secret
