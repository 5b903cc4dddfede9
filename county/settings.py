"""The county server's own settings (`hallq county serve --config county.toml`): its time zone.

The county decides "today" (the reports' default period "this month so far", a centre's board
before the centre has shipped a day) and shows its own step times in this zone, never in the
machine's: a county server in a container runs on UTC, where Beijing's day starts at 16:00 the day
before. Default Asia/Shanghai, as a hall's `rules.timezone`; the zone is checked the same way
(hallq/schema.py), and a bad file is refused with file, line and key as a hall's config is.

    # county.toml
    timezone = "Asia/Shanghai"    # IANA zone name
"""

from __future__ import annotations

import difflib
import sys
import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, ValidationError

from hallq.config import ConfigError, Problem, _Locator, _syntax_problem, read_config_text
from hallq.model import Rules
from hallq.schema import Section, _known_zone, text
from server.clock import Clock


class CountySettings(Section):
    """The keys of county.toml (unknown keys are refused, nothing coerced)."""

    timezone: Annotated[str, AfterValidator(_known_zone)] = text(Rules.timezone, "时区")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def today(settings: CountySettings, clock: Clock) -> date:
    """The county's date now: the clock's instant in the county's zone."""
    return clock.now().astimezone(settings.tz).date()


def parse_settings(raw: str, source: str = "<string>") -> CountySettings:
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(exc, raw, source)]) from None
    try:
        return CountySettings.model_validate(data)
    except ValidationError as exc:
        locator = _Locator(raw)
        problems = []
        for err in exc.errors(include_url=False):
            key = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                close = difflib.get_close_matches(key, list(CountySettings.model_fields), n=1)
                message = f'unknown key (did you mean "{close[0]}"?)' if close else "unknown key"
            elif err["type"] == "string_type":
                message = "must be a string"
            else:
                message = err["msg"]
            problems.append(Problem(source, locator.line_of(key), key, message))
        raise ConfigError(sorted(problems, key=lambda p: p.line or 0)) from None


def load_settings(path: str | Path | None) -> CountySettings:
    """county.toml read and checked (None: the defaults); raises ConfigError naming file, line, key."""
    if path is None:
        return CountySettings()
    return parse_settings(read_config_text(path), str(path))


def load_or_exit(path: str | Path | None) -> CountySettings:
    """For `hallq county serve`: the settings, or every problem on stderr and exit 2 (nothing starts)."""
    try:
        return load_settings(path)
    except ConfigError as exc:
        print(f"hallq county: {path} is not a valid county configuration; nothing was started:", file=sys.stderr)
        print(str(exc), file=sys.stderr)
        raise SystemExit(2) from None
