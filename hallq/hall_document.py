"""A hall as a document of the TOML file's shape (hallq/schema.py HallFile): from a loaded
HallConfig, to TOML text, and the differences between two versions.

The live configuration (server/config_versions.py) stores each version as such a document, exports
it as TOML (the file stays the format for set-up and backups) and shows what a change changed.
Tokens are not part of it, nor the SMS gateway's secret or the county and province links (the hall's tokens there):
they stay in the file or the environment, never in the database.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import time
from typing import Any

from hallq.model import HallConfig
from hallq.schema import DEFAULT_ALERTS, HallSection

# Arrays of tables, each element named by this key in diffs ("services[S301].materials").
IDENTITY = {"services": "code", "bundles": "code", "priorities": "code", "buses": "name", "windows": "number",
            "kiosks": "id", "staff": "number", "tokens": "name"}
# Sub-tables written inline (`keypad = { bus = "callers", address = 1 }`).
INLINE = {"keypad", "evaluator", "strip", "printer", "services"}


def _plain(value: Any) -> Any:
    if isinstance(value, time):
        return f"{value:%H:%M}"
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def _pairs(sessions) -> list[list[str]]:
    return [[f"{s.start:%H:%M}", f"{s.end:%H:%M}"] for s in sessions]


def document_of(config: HallConfig) -> dict:
    """The hall's document (no tokens), every key written out, in the file's shape."""
    rules = _plain(config.rules)
    alerts = {name: list(levels) for name, levels in DEFAULT_ALERTS.items()}  # the engine's fallbacks
    alerts.update({name: [a.warning, a.yellow, a.red] for name, a in config.rules.alerts.items()})
    rules["alerts"] = alerts
    windows = []
    for w in config.windows.values():
        row = {k: v for k, v in _plain(w).items() if v is not None}
        windows.append(row)
    kiosks = [{k: v for k, v in _plain(k).items() if v is not None} for k in config.kiosks.values()]
    return {
        "hall": {key: _plain(getattr(config, key)) for key in HallSection.model_fields},
        "hours": {**_plain(config.hours), "sessions": _pairs(config.hours.sessions),
                  "special_days": [{"date": d.date.isoformat(), "kind": d.kind, "note": d.note,
                                    **({"sessions": _pairs(d.sessions)} if d.sessions else {})}
                                   for d in config.hours.special_days]},
        "rules": rules,
        "appointments": _plain(config.appointments),
        "sessions": _plain(config.sessions),
        "priorities": [_plain(p) for p in config.priorities.values()],
        "services": [_plain(s) for s in config.services.values()],
        "bundles": [_plain(b) for b in config.bundles.values()],
        "buses": [_plain(b) for b in config.buses.values()],
        "windows": windows,
        "kiosks": kiosks,
        "staff": [_plain(s) for s in config.staff.values()],
        "sms": {k: v for k, v in _plain(config.sms).items() if k != "cmpp_secret"},  # secrets stay out
    }


# --------------------------------------------------------------------------- TOML out


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def _key(key: str) -> str:
    return key if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key) else json.dumps(key, ensure_ascii=False)


def _table(lines: list[str], header: str, table: dict) -> None:
    lines.append(header)
    subtables = []
    for key, value in table.items():
        if isinstance(value, dict) and key not in INLINE:
            subtables.append((key, value))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in subtables:
        lines.append("")
        _table(lines, f"[{header.strip('[]')}.{key}]", value)


def to_toml(document: dict, comment: str = "") -> str:
    """The document as a TOML file that hallq/config.py reads back to the same hall."""
    lines = [f"# {line}" for line in comment.splitlines()]
    for key, value in document.items():
        if isinstance(value, list):
            for item in value:
                lines.append("")
                _table(lines, f"[[{key}]]", item)
        else:
            lines.append("")
            _table(lines, f"[{key}]", value)
    return "\n".join(lines).lstrip("\n") + "\n"


# --------------------------------------------------------------------------- differences


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(v, f"{path}.{k}" if path else str(k), out)
    elif isinstance(value, list) and path in IDENTITY and all(isinstance(v, dict) for v in value):
        for i, item in enumerate(value):
            _flatten(item, f"{path}[{item.get(IDENTITY[path], i)}]", out)
    else:
        out[path] = value


def diff(old: dict, new: dict) -> list[str]:
    """One line per key path that changed: `services[S301].materials: [...] -> [...]`."""
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    _flatten(old, "", a)
    _flatten(new, "", b)
    lines = []
    for key in list(a) + [k for k in b if k not in a]:
        if key not in b:
            lines.append(f"{key}: {_value_text(a[key])} -> (removed)")
        elif key not in a:
            lines.append(f"{key}: (added) -> {_value_text(b[key])}")
        elif a[key] != b[key]:
            lines.append(f"{key}: {_value_text(a[key])} -> {_value_text(b[key])}")
    return lines


def _value_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
