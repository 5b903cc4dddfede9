"""差评 cases across the county: the county reads every hall's cases from the events it ships, and
keeps those of the halls that say so ([county] cases = "county" in the hall's config).

Who owns which case is the hall's config, one word for all its cases: "hall" (the default; the
hall's supervisors step them, the county watches them here) or "county" (the county's supervisors
step them at the county pages, the hall's case page shows them read-only). The hall says its
choice each time it polls for steps, so the county never guesses.

A county step is checked by the same rules as at the hall (server.cases.check_step) against the
case's state folded from the county's own steps, under the hall's row lock, and numbered; the hall
polls the steps after the last one it applied (server/case_follower.py) and applies each with its
number in the same commit, so none is applied twice or lost. A case with a step the hall took
itself (before it handed its cases to the county) stays the hall's: the county refuses to step it.
"""

from __future__ import annotations

from datetime import tzinfo

from server.cases import (
    CALLBACK_ANSWERS,
    CALLBACK_CONTACTS,
    CASE_ACTIONS,
    CASE_STATES,
    COUNTY_ACTIONS,
    COUNTY_ACTOR,
    check_step,
)
from server.errors import Conflict, Invalid, NotFound

from .db import Database

STEP_COLUMNS = ("id", "hall", "case_id", "action", "from_state", "to_state", "contact", "answer", "note", "by", "at")


def _step(values: tuple, tz: tzinfo | None = None) -> dict:
    row = dict(zip(STEP_COLUMNS, values, strict=True))
    row["at"] = (row["at"].astimezone(tz) if tz else row["at"]).isoformat()
    row["action_name"] = CASE_ACTIONS[row["action"]][2]
    return row


def listing(db: Database, hall: str | None = None, case_id: int | None = None) -> list[dict]:
    """Every case the halls shipped (newest first), with the state the hall last reported, the
    state of the county's own steps, who owns it and whether the hall has the county's last step."""
    where, args = "", []
    if hall is not None:
        where, args = " AND o.hall = %s", [hall]
        if case_id is not None:
            where, args = where + " AND (o.data->>'case')::int = %s", [hall, case_id]
    with db.connection() as conn:
        rows = conn.execute(
            "SELECT o.hall, h.name, (o.data->>'case')::int, o.ts, o.ticket_code, o.service, o.window_number, "
            "o.data->>'grade_name', o.data->>'staff', o.data->>'callback_due', o.data->>'fix_due', "
            "h.cases_owner, h.case_mark, "
            "(SELECT u.data->>'state' FROM events u WHERE u.hall = o.hall AND u.type = 'case.updated' "
            " AND (u.data->>'case')::int = (o.data->>'case')::int ORDER BY u.event_id DESC LIMIT 1), "
            "EXISTS (SELECT 1 FROM events u WHERE u.hall = o.hall AND u.type = 'case.updated' "
            " AND (u.data->>'case')::int = (o.data->>'case')::int AND u.actor NOT LIKE %s), "
            "(SELECT max(s.id) FROM county_case_steps s WHERE s.hall = o.hall AND s.case_id = (o.data->>'case')::int) "
            f"FROM events o JOIN halls h ON h.code = o.hall WHERE o.type = 'case.opened'{where} "
            "ORDER BY o.ts DESC LIMIT 1000", [COUNTY_ACTOR + "%", *args]).fetchall()
        out = []
        for (code, name, cid, ts, ticket_code, service, window, grade, staff, callback_due, fix_due, owner, mark,
             reported, hall_stepped, last_step) in rows:
            state, answered = _fold(conn, code, cid)
            county = owner == "county" and not hall_stepped
            out.append({
                "hall": code, "hall_name": name, "case": cid, "opened_ts": ts, "ticket_code": ticket_code,
                "service": service, "window": window, "grade_name": grade, "staff": staff,
                "callback_due": callback_due, "fix_due": fix_due, "owner": "county" if county else "hall",
                "state": state if county else (reported or "open"),
                "state_name": CASE_STATES.get(state if county else (reported or "open"), ""),
                "hall_state": reported or "open", "answered": answered,
                "synced": last_step is None or last_step <= mark,
                "actions": [a for a in COUNTY_ACTIONS if county and _allowed(a, state, answered)],
            })
    return out


def _allowed(action: str, state: str, answered: bool) -> bool:
    return state in CASE_ACTIONS[action][0] and not (action == "close" and not answered)


def _fold(conn, hall: str, case_id: int) -> tuple[str, bool]:
    """The case's state and whether the citizen's answer is recorded, by the county's steps."""
    state, answered = "open", False
    for to_state, answer in conn.execute("SELECT to_state, answer FROM county_case_steps WHERE hall = %s AND "
                                         "case_id = %s ORDER BY id", [hall, case_id]).fetchall():
        state, answered = to_state, answered or answer is not None
    return state, answered


def steps(db: Database, hall: str, case_id: int, tz: tzinfo | None = None) -> list[dict]:
    """A case's county steps; `at` in `tz` (the county's zone: the page shows it as written), else
    in the database session's zone."""
    with db.connection() as conn:
        rows = conn.execute(f"SELECT {', '.join(STEP_COLUMNS)} FROM county_case_steps WHERE hall = %s AND "
                            "case_id = %s ORDER BY id", [hall, case_id]).fetchall()
    return [_step(r, tz) for r in rows]


def act(db: Database, hall: str, case_id: int, action: str, by: str, note: str | None,
        contact: str | None = None, answer: str | None = None) -> dict:
    """A county supervisor's step on a case the county keeps; the same rules as at the hall."""
    if action not in COUNTY_ACTIONS:
        raise NotFound(f"no county case action {action!r}; one of: {', '.join(COUNTY_ACTIONS)}", field="action")
    with db.connection() as conn:
        row = conn.execute("SELECT cases_owner FROM halls WHERE code = %s FOR UPDATE", [hall]).fetchone()
        if row is None:
            raise NotFound(f"no hall {hall}", field="hall")
        if row[0] != "county":
            raise Conflict(f"hall {hall} keeps its own 差评 cases: the county watches them", field="hall",
                           code="hall_owned")
        if conn.execute("SELECT 1 FROM events WHERE hall = %s AND type = 'case.opened' AND (data->>'case')::int = %s",
                        [hall, case_id]).fetchone() is None:
            raise NotFound(f"no case {case_id} of hall {hall} has reached the county", field="case")
        if conn.execute("SELECT 1 FROM events WHERE hall = %s AND type = 'case.updated' AND "
                        "(data->>'case')::int = %s AND actor NOT LIKE %s",
                        [hall, case_id, COUNTY_ACTOR + "%"]).fetchone() is not None:
            raise Conflict(f"case {case_id} was stepped at the hall: it stays the hall's", field="case",
                           code="hall_owned")
        state, answered = _fold(conn, hall, case_id)
        contact = contact or None if action == "call-back" else contact
        answer = answer or None if action == "call-back" else answer
        to_state, recorded = check_step(action, state, answered, note, contact, answer)
        row = conn.execute(
            "INSERT INTO county_case_steps (hall, case_id, action, from_state, to_state, contact, answer, note, by) "
            f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {', '.join(STEP_COLUMNS)}",
            # the hall adds the call-back's own prefix (contact, answer) again: send the note as written
            [hall, case_id, action, state, to_state, contact, answer,
             (note or "").strip() if action == "call-back" else recorded, by]).fetchone()
    return _step(row)


def pending(db: Database, hall: str, after: int, owner: str) -> list[dict]:
    """The calling hall's poll: it says who owns its cases and the last county step it applied (the
    county keeps both, for its pages); answers the steps after that, in order."""
    if owner not in ("hall", "county"):
        raise Invalid("owner: hall or county, as the hall's [county] cases says", field="owner")
    if after < 0:
        raise Invalid("after: the last county step the hall applied (0: none)", field="after")
    with db.connection() as conn:
        conn.execute("UPDATE halls SET cases_owner = %s, case_mark = GREATEST(case_mark, %s) WHERE code = %s",
                     [owner, after, hall])
        rows = conn.execute(f"SELECT {', '.join(STEP_COLUMNS)} FROM county_case_steps WHERE hall = %s AND id > %s "
                            "ORDER BY id LIMIT 500", [hall, after]).fetchall()
    return [_step(r) for r in rows]


CONTACTS, ANSWERS = CALLBACK_CONTACTS, CALLBACK_ANSWERS
