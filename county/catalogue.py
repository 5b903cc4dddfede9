"""The county's matter catalogue (通用目录) as numbered releases, and which hall runs which.

三级四同: a matter has the same code, name, category, materials, case kind and time limit at every
level. The county publishes the whole catalogue as release N+1 with, per level (county, township,
village), the fields a hall of that level may set for itself (a subset of OVERRIDABLE: minutes,
windows, hours). The county never writes into a hall: each hall fetches the newest release
(server/catalogue_follower.py), applies it live and reports back which release it runs with which
overrides (the drift view).

A catalogue file (TOML or JSON):

    note = "2026 年第 3 版"
    [overridable]                       # per level; a level left out may override nothing
    county = ["minutes", "windows", "hours"]
    township = ["minutes", "windows"]
    village = ["windows"]
    [[matters]]
    code = "S301"
    name = "社会保障卡申领"
    category = "社保医保"
    case_kind = "即办"                  # 即办 | 承诺
    promised_days = 0
    minutes = 8                         # the county's expected minutes (a hall may override)
    materials = ["居民身份证"]
"""

from __future__ import annotations

import json
import tomllib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from hallq.schema import ServiceSection
from server.errors import Invalid, NotFound

from .db import Database
from .registry import LEVELS

OVERRIDABLE = ("minutes", "windows", "hours")  # never name, category, materials, case kind, time limit
# The matter's fields the catalogue fixes, declared once: as the hall's own [[services]] declares them.
MATTER_FIELDS = ("code", "name", "category", "case_kind", "promised_days", "minutes", "materials")
Matter = create_model("Matter", __config__=ConfigDict(extra="forbid", strict=True, frozen=True),
                      **{k: (f.annotation, f) for k, f in ServiceSection.model_fields.items() if k in MATTER_FIELDS})


class Release(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    note: str = Field("", max_length=200)
    overridable: dict[Literal[LEVELS], list[Literal[OVERRIDABLE]]] = {}  # type: ignore[valid-type]
    matters: list[Matter] = Field(..., min_length=1)  # type: ignore[valid-type]


def parse(data: object) -> dict:
    """A catalogue checked whole: 422 naming the first field at fault (`matters[2].materials`)."""
    if not isinstance(data, dict):
        raise Invalid("a catalogue is an object with matters", field="matters")
    try:
        release = Release.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".")
        raise Invalid(f"{where}: {first['msg']}", field=where or "matters") from None
    codes = [m.code for m in release.matters]
    twice = sorted({c for c in codes if codes.count(c) > 1})
    if twice:
        raise Invalid(f"matter {twice[0]} is listed twice", field="matters")
    return release.model_dump()


def read_file(path: str) -> dict:
    """A catalogue file: .json as JSON, anything else as TOML."""
    with open(path, "rb") as f:
        raw = f.read()
    data = json.loads(raw) if path.endswith(".json") else tomllib.loads(raw.decode("utf-8"))
    return parse(data)


def publish(db: Database, catalogue: dict, by: str) -> int:
    """Record `catalogue` (parsed) as the next release; its number."""
    with db.connection() as conn:
        conn.execute("LOCK TABLE catalogue_releases IN EXCLUSIVE MODE")  # numbers without gaps
        number = conn.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM catalogue_releases").fetchone()[0]
        conn.execute("INSERT INTO catalogue_releases (number, note, published_by, matters, overridable) "
                     "VALUES (%s, %s, %s, %s, %s)",
                     [number, catalogue["note"], by, json.dumps(catalogue["matters"], ensure_ascii=False),
                      json.dumps(catalogue["overridable"])])
    return int(number)


def for_hall(db: Database, hall: str) -> dict:
    """The newest release as the hall applies it: matters and the fields its level may override."""
    with db.connection() as conn:
        level = conn.execute("SELECT level FROM halls WHERE code = %s", [hall]).fetchone()[0]
        row = conn.execute("SELECT number, note, matters, overridable FROM catalogue_releases "
                           "ORDER BY number DESC LIMIT 1").fetchone()
    if row is None:
        return {"release": 0, "level": level}
    number, note, matters, overridable = row
    return {"release": number, "note": note, "level": level, "matters": matters,
            "overridable": overridable.get(level, [])}


def report(db: Database, hall: str, data: object) -> dict:
    """The hall says which release it runs and its overrides (what it sets itself)."""
    release = data.get("release") if isinstance(data, dict) else None
    if not isinstance(release, int) or isinstance(release, bool) or not 0 <= release < 2**31:
        raise Invalid("release: the number of the release the hall runs (0: none)", field="release")
    overrides = data.get("overrides", {})
    if not isinstance(overrides, dict):
        raise Invalid("overrides: an object", field="overrides")
    # Routing reads these two of every hall (county/referrals.py _offers): one hall's malformed report
    # must not break every other hall's referrals (it made POST /referrals answer 500).
    for key in ("local_matters", "not_offered"):
        codes = overrides.get(key, [])
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise Invalid(f"overrides.{key}: a list of matter codes", field=f"overrides.{key}")
    with db.connection() as conn:
        if data["release"] and conn.execute("SELECT 1 FROM catalogue_releases WHERE number = %s",
                                            [data["release"]]).fetchone() is None:
            raise NotFound(f"no release {data['release']}", field="release")
        conn.execute("INSERT INTO hall_catalogue (hall, release, overrides) VALUES (%s, %s, %s) "
                     "ON CONFLICT (hall) DO UPDATE SET release = EXCLUDED.release, overrides = EXCLUDED.overrides, "
                     "reported_at = now()", [hall, data["release"], json.dumps(overrides, ensure_ascii=False)])
    return {"hall": hall, "release": data["release"]}


def drift(db: Database) -> dict:
    """Every hall: its level, the release it runs (None: never reported), how far behind, overrides."""
    with db.connection() as conn:
        latest = conn.execute("SELECT COALESCE(MAX(number), 0) FROM catalogue_releases").fetchone()[0]
        rows = conn.execute("SELECT h.code, h.name, h.level, c.release, c.overrides, c.reported_at FROM halls h "
                            "LEFT JOIN hall_catalogue c ON c.hall = h.code ORDER BY h.code").fetchall()
    halls = [{"code": code, "name": name, "level": level, "release": release,
              "behind": latest - (release or 0), "overrides": overrides or {},
              "reported_at": reported.isoformat() if reported else None}
             for code, name, level, release, overrides, reported in rows]
    return {"latest": latest, "halls": halls}


def releases(db: Database) -> list[dict]:
    with db.connection() as conn:
        rows = conn.execute("SELECT number, note, published_by, published_at, jsonb_array_length(matters) "
                            "FROM catalogue_releases ORDER BY number DESC").fetchall()
    return [{"number": n, "note": note, "published_by": by, "published_at": at.isoformat(), "matters": count}
            for n, note, by, at, count in rows]
