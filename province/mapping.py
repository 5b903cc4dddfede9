"""Field mapping from a hallq record to one province's 好差评 interface (docs/province.md).

Each province names its fields and codes differently, so the mapping is data: a TOML file with
`[fields]` (platform field = hallq field), `[grades]` and `[channels]` (hallq value = platform
code) and `[constants]` (fields every record carries, e.g. the platform's area code). The default
below is the shape of the national 一网通办 interface most provinces derive theirs from.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

# hallq's side of a record (province/forwarder.py `record_of`): what a mapping may name
SOURCE_FIELDS = ("id", "kind", "hall", "day", "at", "matter_code", "matter_name", "case_number", "unit",
                 "window", "staff", "ticket", "rater", "grade", "tags", "text", "channel", "case", "action",
                 "state", "note", "outcome", "record", "rating", "rating_type", "scored", "appeal",
                 "appeal_state", "reason", "evidence", "decision", "corrects")

DEFAULT = {
    "fields": {"evaluateId": "id", "type": "kind", "deptCode": "hall", "evaluateTime": "at",
               "taskCode": "matter_code", "taskName": "matter_name", "projectNo": "case_number",
               "deptName": "unit", "windowNo": "window", "staffNo": "staff", "ticketNo": "ticket",
               "raterId": "rater", "satisfaction": "grade", "badTags": "tags", "content": "text",
               "channel": "channel", "caseId": "case", "step": "action", "caseState": "state",
               "stepNote": "note", "outcome": "outcome", "serviceNo": "record", "evaluateType": "rating_type",
               "counted": "scored", "appealId": "appeal", "appealState": "appeal_state",
               "appealReason": "reason", "appealEvidence": "evidence", "appealResult": "decision",
               "correctsId": "corrects"},
    "grades": {"5": "5", "4": "4", "3": "3", "2": "2", "1": "1"},
    "channels": {"evaluator": "1", "qr": "2", "web": "3", "app": "3", "12345": "4", "hotline": "4",
                 "default": "0"},
    "constants": {"source": "hallq"},
}


@dataclass(frozen=True)
class Mapping:
    fields: dict[str, str]
    grades: dict[str, str] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)

    def apply(self, record: dict) -> dict:
        """The platform's form of one hallq record."""
        out = dict(self.constants)
        for name, source in self.fields.items():
            value = record.get(source)
            if source == "grade" and value is not None:
                value = self.grades.get(str(value), str(value))
            elif source == "channel" and value is not None:
                value = self.channels.get(str(value), str(value))
            if value is not None:
                out[name] = value
        return out

    def id_field(self) -> str:
        return next(name for name, source in self.fields.items() if source == "id")


def load(path: str | Path | None) -> Mapping:
    """The mapping in `path` (TOML), or the default; an unknown hallq field is refused by name."""
    data = DEFAULT if path is None else tomllib.loads(Path(path).read_text(encoding="utf-8"))
    fields = {str(k): str(v) for k, v in data.get("fields", {}).items()}
    unknown = sorted(set(fields.values()) - set(SOURCE_FIELDS))
    if unknown:
        raise ValueError(f"{path}: fields: unknown hallq field(s) {', '.join(unknown)}; known: {', '.join(SOURCE_FIELDS)}")
    if "id" not in fields.values():
        raise ValueError(f"{path}: fields: one platform field must carry hallq's id (the idempotent record id)")
    return Mapping(fields, {str(k): str(v) for k, v in data.get("grades", {}).items()},
                   {str(k): str(v) for k, v in data.get("channels", {}).items()},
                   {str(k): str(v) for k, v in data.get("constants", {}).items()})
