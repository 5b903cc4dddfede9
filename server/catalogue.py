"""The county's matter catalogue (通用目录) inside a hall: what applying a release does to the hall's
document, what the hall overrides, and which local changes the county forbids.

A release (county/catalogue.py) fixes, for every matter it lists, the name, category, materials,
case kind and time limit (三级四同); the matter's minutes are the county's too unless the hall's
level may override them. The hall takes a subset: a matter the hall does not offer is not added
(which windows serve it, its ticket prefix and department are the hall's), a hall matter outside
the catalogue stays as it is (a local matter, reported as such).

Overrides are kept across releases: a minutes value that differs from the release the hall ran
before is the hall's own and stays; one equal to it follows the new release. "windows" (which
windows serve catalogue matters) and "hours" (opening sessions and weekdays) have no county value:
where a level may not override them, the hall keeps what it ran when it took the release, and a
local change to them is refused.

The applied release is kept in the hall's `settings` (key APPLIED_KEY), written in the same
transaction as the configuration version it made.
"""

from __future__ import annotations

import copy
import json

from .errors import Forbidden
from .store import Store

APPLIED_KEY = "county_catalogue"
LOCKED = ("name", "category", "case_kind", "promised_days", "materials")  # 三级四同: never a hall's own


def applied(store: Store) -> dict | None:
    """The release this hall runs (as `record` made it), or None."""
    rows = store.rows("SELECT value FROM settings WHERE key = ?", [APPLIED_KEY])
    return json.loads(rows[0]["value"]) if rows else None


def _windows(document: dict, codes) -> dict[str, list[int]]:
    return {code: sorted(w["number"] for w in document["windows"] if code in w.get("services", {})) for code in codes}


def _hours(document: dict) -> dict:
    return {"sessions": document["hours"]["sessions"], "weekdays": document["hours"]["weekdays"]}


def merge(document: dict, release: dict, before: dict | None) -> dict:
    """The hall's document with `release` (as the county answers it) applied; `before` is the
    release the hall ran (its minutes tell the hall's own overrides apart)."""
    doc = copy.deepcopy(document)
    matters = {m["code"]: m for m in release["matters"]}
    old = before["matters"] if before and before["release"] else {}
    for service in doc["services"]:
        matter = matters.get(service["code"])
        if matter is None:
            continue
        for key in LOCKED:
            service[key] = copy.deepcopy(matter[key])
        previous = old.get(service["code"])
        own = previous is None or service["minutes"] != previous["minutes"]
        if "minutes" not in release["overridable"] or not own:
            service["minutes"] = matter["minutes"]
    return doc


def record(document: dict, release: dict) -> str:
    """What the hall keeps of an applied release: the matters, its level's rights, and the windows
    and hours it ran when it took the release (the reference where it may not change them)."""
    matters = {m["code"]: m for m in release["matters"]}
    return json.dumps({"release": release["release"], "level": release["level"], "note": release.get("note", ""),
                       "overridable": release["overridable"], "matters": matters,
                       "windows": _windows(document, matters), "hours": _hours(document)}, ensure_ascii=False)


def overrides(document: dict, running: dict | None) -> dict:
    """What the hall sets itself against the release it runs: for the county's drift view."""
    if not running:
        return {}
    matters = running["matters"]
    own = {s["code"]: s for s in document["services"]}
    windows = _windows(document, matters)
    return {
        "minutes": {c: s["minutes"] for c, s in own.items() if c in matters and s["minutes"] != matters[c]["minutes"]},
        "windows": {c: w for c, w in windows.items() if w != running["windows"].get(c, [])},
        "hours": _hours(document) if _hours(document) != running["hours"] else None,
        "local_matters": sorted(c for c in own if c not in matters),
        "not_offered": sorted(c for c in matters if c not in own),
    }


def check(document: dict, running: dict | None) -> None:
    """Refuse (403 county_catalogue, naming the field) a local change the county does not allow."""
    if not running:
        return
    matters, allowed = running["matters"], running["overridable"]
    level = running["level"]
    for service in document["services"]:
        matter = matters.get(service["code"])
        if matter is None:
            continue
        for key in LOCKED + (() if "minutes" in allowed else ("minutes",)):
            if service[key] != matter[key]:
                raise Forbidden(f"{key} of {service['code']} is the county catalogue's (release {running['release']}: "
                                f"{matter[key]!r}); a {level} hall may not change it", field=f"services[{service['code']}].{key}",
                                code="county_catalogue")
    if "windows" not in allowed and _windows(document, matters) != running["windows"]:
        changed = next(c for c, w in _windows(document, matters).items() if w != running["windows"].get(c, []))
        raise Forbidden(f"which windows serve {changed} is fixed by the county for a {level} hall "
                        f"(release {running['release']})", field=f"services[{changed}]", code="county_catalogue")
    if "hours" not in allowed and _hours(document) != running["hours"]:
        raise Forbidden(f"opening hours are fixed by the county for a {level} hall (release {running['release']})",
                        field="hours", code="county_catalogue")
